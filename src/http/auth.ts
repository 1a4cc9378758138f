/**
 * Who may call what, in one place. Every route is declared here with its
 * scope and nowhere else; the token is checked once, before the body is
 * read, by the one middleware below.
 *
 *   public   anyone (iPXE, boot files)
 *   session  a boot session token (what a booted agent holds) or the admin token
 *   admin    the admin token only
 *
 * No or an unknown token on a guarded route: 401. A valid session token on
 * an admin route: 403. A path no route declares: 404, whatever the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../log.ts';
import type { Session } from '../state/sessions.ts';
import { fail } from './reply.ts';

export const SCOPES = ['public', 'session', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export type Method = 'get' | 'put' | 'post' | 'delete';

/** Who made a request, once its token is checked. */
export type Caller =
  | { kind: 'admin' }
  | { kind: 'session'; session: Session }
  /** A person logged in to the web console. */
  | { kind: 'user'; name: string; role: 'admin' | 'operator' | 'viewer' }
  | { kind: 'anonymous' };

export interface Credentials {
  isAdmin(token: string | undefined): boolean;
  session(token: string): Session | undefined;
}

/** Compare secrets in constant time, whatever their lengths. */
export const safeEqual = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** The token of an `Authorization: Bearer TOKEN` header, if there is one. */
export function bearerToken(req: Request): string | undefined {
  return /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
}

/** The caller a token stands for; 'invalid' for a token that is neither admin nor a live session. */
export function identify(token: string | undefined, c: Credentials): Caller | 'invalid' {
  if (token === undefined) return { kind: 'anonymous' };
  if (c.isAdmin(token)) return { kind: 'admin' };
  const session = c.session(token);
  return session ? { kind: 'session', session } : 'invalid';
}

/** The decision for a scope: pass, or the status to answer. Pure. */
export function admits(scope: Scope, caller: Caller | 'invalid'): 'pass' | 401 | 403 {
  if (scope === 'public') return 'pass';
  if (caller === 'invalid' || caller.kind === 'anonymous') return 401;
  if (caller.kind === 'admin') return 'pass';
  return scope === 'session' ? 'pass' : 403;
}

/** The caller of a request that passed its route's check. */
export const callerOf = (res: Response): Caller => (res.locals.caller as Caller | undefined) ?? { kind: 'anonymous' };

/** Who to name in the audit log for a request. */
export function actorOf(req: Request, res: Response): string {
  const c = callerOf(res);
  const who = c.kind === 'admin' ? 'admin' : c.kind === 'session' ? `session ${c.session.mac}` : 'anonymous';
  return `api ${who} (${req.ip ?? '?'})`;
}

export interface RouteInfo {
  method: Method;
  path: string | RegExp;
  scope: Scope;
}

interface Route extends RouteInfo {
  handlers: RequestHandler[];
}

/** The declared routes. A route cannot be added without a scope; `mount` is the only place they reach express. */
export class RouteTable {
  readonly #routes: Route[] = [];

  add(method: Method, path: string | RegExp, scope: Scope, ...handlers: RequestHandler[]): this {
    if (!SCOPES.includes(scope)) throw new TypeError(`route ${method.toUpperCase()} ${String(path)}: unknown scope ${String(scope)}`);
    this.#routes.push({ method, path, scope, handlers });
    return this;
  }
  get(path: string | RegExp, scope: Scope, ...h: RequestHandler[]): this {
    return this.add('get', path, scope, ...h);
  }
  put(path: string | RegExp, scope: Scope, ...h: RequestHandler[]): this {
    return this.add('put', path, scope, ...h);
  }
  post(path: string | RegExp, scope: Scope, ...h: RequestHandler[]): this {
    return this.add('post', path, scope, ...h);
  }
  delete(path: string | RegExp, scope: Scope, ...h: RequestHandler[]): this {
    return this.add('delete', path, scope, ...h);
  }

  /** Another table's routes under a prefix ('' or '/api'). */
  include(prefix: string, t: RouteTable): this {
    for (const r of t.#routes) this.#routes.push({ ...r, path: typeof r.path === 'string' ? prefix + r.path : prefixRegExp(prefix, r.path) });
    return this;
  }

  list(): RouteInfo[] {
    return this.#routes.map(({ method, path, scope }) => ({ method, path, scope }));
  }

  /** Register every route on the app, each behind the check of its scope. */
  mount(app: Express, c: Credentials, log: Logger): void {
    for (const r of this.#routes) app[r.method](r.path, guard(r.scope, c, log), ...r.handlers);
  }
}

function prefixRegExp(prefix: string, re: RegExp): RegExp {
  if (!prefix) return re;
  if (!re.source.startsWith('^')) throw new TypeError(`a prefixed route pattern must start with ^: ${re.source}`);
  return new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}${re.source.slice(1)}`, re.flags);
}

function guard(scope: Scope, c: Credentials, log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (scope === 'public') return next();
    const caller = identify(bearerToken(req), c);
    const verdict = admits(scope, caller);
    if (verdict === 'pass') {
      res.locals.caller = caller;
      return next();
    }
    log.warn('http.unauthorized', { method: req.method, path: req.path, from: req.ip, scope, status: verdict });
    if (verdict === 403) return void fail(res, 403, 'this needs the admin token: a boot session token may not do it', 'FORBIDDEN');
    fail(res, 401, scope === 'admin' ? 'the admin token is required (Authorization: Bearer TOKEN)' : 'a valid token is required: pass --token or set NETRESTORE_TOKEN', 'UNAUTHORIZED');
  };
}
