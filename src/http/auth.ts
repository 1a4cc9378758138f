/**
 * Who may call what, in one place. Every route is declared here with the
 * permission it needs (auth/access.ts: 'public' or an action of
 * auth/roles.ts) and nowhere else; the caller is checked once, before the
 * body is read, by the one middleware below.
 *
 * Callers: the admin token (`Authorization: Bearer`), a boot session token
 * (Bearer too), a local account (`Authorization: Basic`), or a caller an
 * earlier middleware put in `res.locals.caller` (the web console's cookie
 * session, say: `{ kind: 'user', name, role }`), which the guard then takes
 * as it is.
 *
 * No or an unknown credential on a guarded route: 401. A caller the
 * permission does not admit: 403. Too many wrong logins from one address:
 * 429 until its wait is over. A path no route declares: 404, whatever the
 * credential.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../log.ts';
import { decide, PERMISSIONS, type Caller, type Permission, type RequestFacts } from '../auth/access.ts';
import { clientAddress, type LoginGuard } from '../auth/login-guard.ts';
import type { Role } from '../auth/roles.ts';
import type { AuditLog } from '../state/audit.ts';
import type { Session, SessionStore } from '../state/sessions.ts';
import { fail } from './reply.ts';

export type { Caller, Permission } from '../auth/access.ts';

export type Method = 'get' | 'put' | 'post' | 'delete';

export interface Credentials {
  /** The admin token check (constant time). */
  isAdmin(token: string): boolean;
  sessions: Pick<SessionStore, 'lookup' | 'use'>;
  /** A local account's login (auth/login.ts), undefined when wrong; `known` says whether the name exists (for the audit only). */
  login(name: string, password: string): Promise<{ name: string; role: Role } | undefined>;
  knownUser(name: string): boolean;
  /** The chunk hashes of an image (for a restore session's chunk reads); undefined when there is no such image. */
  chunksOf(image: string): Promise<ReadonlySet<string> | undefined>;
  /** The login throttle, shared with the boot menu's logins. */
  loginGuard: LoginGuard;
  audit: AuditLog;
  now?: () => number;
}

/** Compare secrets in constant time, whatever their lengths. */
export const safeEqual = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

export type Authorization = { scheme: 'bearer'; token: string } | { scheme: 'basic'; name: string; password: string } | 'malformed' | undefined;

/** The credential of an Authorization header. Pure. */
export function parseAuthorization(header: string | undefined): Authorization {
  if (!header) return undefined;
  const bearer = /^Bearer +(\S+) *$/i.exec(header);
  if (bearer) return { scheme: 'bearer', token: bearer[1]! };
  const basic = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { scheme: 'basic', name: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return 'malformed';
}

type Identified = { caller: Caller | 'invalid'; reason?: string } | { throttled: number };

/**
 * The caller of a request. Session tokens are looked up by their hash (too
 * long to guess: no throttle, so a running restore never waits on someone
 * else's typos); the admin token and passwords only when the address is not
 * held back, and each wrong one holds it back longer and goes into the audit log.
 */
export async function identify(auth: Authorization, address: string, c: Credentials, log: Logger): Promise<Identified> {
  if (auth === undefined) return { caller: { kind: 'anonymous' } };
  if (auth === 'malformed') return { caller: 'invalid', reason: 'the Authorization header is neither Bearer TOKEN nor Basic' };
  const now = (c.now ?? Date.now)();
  if (auth.scheme === 'bearer') {
    const l = c.sessions.lookup(auth.token, now);
    if (l) return l.live ? { caller: { kind: 'session', session: l.session } } : { caller: 'invalid', reason: `this boot session token is no longer valid: ${l.reason}` };
  }
  const wait = c.loginGuard.wait(address, now);
  if (wait > 0) return { throttled: wait };
  let caller: Caller | undefined;
  if (auth.scheme === 'bearer') caller = c.isAdmin(auth.token) ? { kind: 'admin' } : undefined;
  else {
    const user = await c.login(auth.name, auth.password);
    caller = user && { kind: 'user', name: user.name, role: user.role };
  }
  if (caller) {
    c.loginGuard.succeeded(address);
    return { caller };
  }
  // The clock read again: the wait counts from the answer, not from before the (slow) password check.
  const delay = c.loginGuard.failed(address, (c.now ?? Date.now)());
  // The name only when it is an account: a password typed into the name field must not reach the log.
  const who = auth.scheme === 'bearer' ? 'an unknown token' : c.knownUser(auth.name) ? `user ${auth.name}: wrong password` : 'an unknown user name';
  c.audit.record({ actor: `api (${address})`, action: 'login-failed', detail: `${who}; next try in ${delay} s` });
  log.warn('http.login-failed', { from: address, scheme: auth.scheme, user: auth.scheme === 'basic' && c.knownUser(auth.name) ? auth.name : undefined, nextWaitSeconds: delay });
  return { caller: 'invalid', reason: auth.scheme === 'bearer' ? 'unknown token' : 'wrong user name or password' };
}

/** The facts a permission needs, from the route's parameters and, for a restore session's chunk, its image's manifest. */
async function factsFor(permission: Permission, caller: Caller | 'invalid', req: Request, address: string, c: Credentials): Promise<RequestFacts> {
  const p = req.params as Record<string, string | undefined>;
  const facts: RequestFacts = { address, image: p.name, task: permission === 'tasks.report' ? Number(p.id) : undefined };
  if (permission === 'chunks.read' && caller !== 'invalid' && caller.kind === 'session' && caller.session.mode === 'restore' && caller.session.image !== null) {
    facts.chunkInImage = (await c.chunksOf(caller.session.image))?.has(String(p.hash)) ?? false;
  }
  return facts;
}

/** The caller of a request that passed its route's check. */
export const callerOf = (res: Response): Caller => (res.locals.caller as Caller | undefined) ?? { kind: 'anonymous' };

/** The source address of a request, as sessions and the throttle know it. */
export const addressOf = (req: Request): string => clientAddress(req.ip);

/** Who to name in the audit log for a request. */
export function actorOf(req: Request, res: Response): string {
  const c = callerOf(res);
  const who =
    c.kind === 'admin' ? 'admin'
    : c.kind === 'user' ? `user ${c.name}`
    : c.kind === 'session' ? `session ${c.session.mac}${c.session.user ? ` by ${c.session.user}` : ''}`
    : 'anonymous';
  return `${c.kind === 'user' && c.via ? c.via : 'api'} ${who} (${addressOf(req)})`;
}

export interface RouteInfo {
  method: Method;
  path: string | RegExp;
  permission: Permission;
}

interface Route extends RouteInfo {
  handlers: RequestHandler[];
}

/** The declared routes. A route cannot be added without a permission; `mount` is the only place they reach express. */
export class RouteTable {
  readonly #routes: Route[] = [];

  add(method: Method, path: string | RegExp, permission: Permission, ...handlers: RequestHandler[]): this {
    if (!PERMISSIONS.includes(permission)) throw new TypeError(`route ${method.toUpperCase()} ${String(path)}: unknown permission ${String(permission)}`);
    this.#routes.push({ method, path, permission, handlers });
    return this;
  }
  get(path: string | RegExp, permission: Permission, ...h: RequestHandler[]): this {
    return this.add('get', path, permission, ...h);
  }
  put(path: string | RegExp, permission: Permission, ...h: RequestHandler[]): this {
    return this.add('put', path, permission, ...h);
  }
  post(path: string | RegExp, permission: Permission, ...h: RequestHandler[]): this {
    return this.add('post', path, permission, ...h);
  }
  delete(path: string | RegExp, permission: Permission, ...h: RequestHandler[]): this {
    return this.add('delete', path, permission, ...h);
  }

  /** Another table's routes under a prefix ('' or '/api'). */
  include(prefix: string, t: RouteTable): this {
    for (const r of t.#routes) this.#routes.push({ ...r, path: typeof r.path === 'string' ? prefix + r.path : prefixRegExp(prefix, r.path) });
    return this;
  }

  list(): RouteInfo[] {
    return this.#routes.map(({ method, path, permission }) => ({ method, path, permission }));
  }

  /** Register every route on the app, each behind the check of its permission. */
  mount(app: Express, c: Credentials, log: Logger): void {
    for (const r of this.#routes) app[r.method](r.path, guard(r.permission, c, log), ...r.handlers);
  }
}

function prefixRegExp(prefix: string, re: RegExp): RegExp {
  if (!prefix) return re;
  if (!re.source.startsWith('^')) throw new TypeError(`a prefixed route pattern must start with ^: ${re.source}`);
  return new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}${re.source.slice(1)}`, re.flags);
}

const CHALLENGE = 'Bearer realm="netrestore", Basic realm="netrestore", charset="UTF-8"';

export function guard(permission: Permission, c: Credentials, log: Logger): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (permission === 'public') return next();
    const address = addressOf(req);
    // A caller set by an earlier middleware (the console's session) is taken as it is.
    const preset = res.locals.caller as Caller | undefined;
    const who: Identified = preset ? { caller: preset } : await identify(parseAuthorization(req.get('authorization')), address, c, log);
    if ('throttled' in who) {
      log.warn('http.login-throttled', { method: req.method, path: req.path, from: address, waitSeconds: who.throttled });
      res.set('retry-after', String(who.throttled));
      return void fail(res, 429, `too many wrong logins from ${address}: wait ${who.throttled} s`, 'TOO_MANY_LOGINS');
    }
    const verdict = decide(who.caller, permission, await factsFor(permission, who.caller, req, address, c));
    if (verdict.pass && who.caller !== 'invalid' && who.caller.kind === 'session' && !bindSession(who.caller.session, address, c, log)) {
      return void fail(res, 403, `this session token is bound to another machine's address`, 'FORBIDDEN');
    }
    if (verdict.pass) {
      res.locals.caller = who.caller;
      return next();
    }
    log.warn('http.refused', { method: req.method, path: req.path, from: address, permission, status: verdict.status, reason: who.reason ?? verdict.reason });
    if (verdict.status === 403) return void fail(res, 403, verdict.reason, 'FORBIDDEN');
    res.set('www-authenticate', CHALLENGE);
    fail(res, 401, who.reason ?? 'a token or a login is required: Authorization: Bearer TOKEN (the admin token; agents pass --token or NETRESTORE_TOKEN) or Basic with an account', 'UNAUTHORIZED');
  };
}

/** A session's call passed: bind it to this address on first use; false when another address got there first. */
function bindSession(s: Session, address: string, c: Credentials, log: Logger): boolean {
  const first = s.boundTo === null;
  const bound = c.sessions.use(s, address, undefined, (c.now ?? Date.now)());
  if (!bound) return false;
  if (first && s.issuedTo !== null && s.issuedTo !== address) {
    // Legitimate when the restore environment got another address by DHCP; worth a look otherwise.
    log.warn('session.bound-elsewhere', { mac: s.mac, issuedTo: s.issuedTo, boundTo: address });
    c.audit.record({ actor: `api session ${s.mac} (${address})`, action: 'session-bound', mac: s.mac, image: s.image, detail: `issued to ${s.issuedTo}, first used from ${address}` });
  }
  s.boundTo = address;
  return true;
}
