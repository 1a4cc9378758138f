/**
 * The web console, served by the HTTP face at `/`: server-rendered pages
 * (Handlebars), a stylesheet and a small script (served from here, no CDN),
 * live updates by server-sent events. Its own router: the console's login
 * session is a cookie, not the API's bearer token, so its pages are not in
 * the API's route table; every page but the login asks `requireLogin`, and
 * every POST carries the session's CSRF token.
 *
 *   GET  /login  POST /login  POST /logout       the login
 *   GET  /                                       overview (live: GET /events)
 *   /hosts…  /images…  /drills…  /history        see the page modules
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import type { State } from '../state/stores.ts';
import { audit, message, render, sessionOf, type Console } from './context.ts';
import { DrillRecords, DrillRunner } from './drills.ts';
import { drillPages } from './drill-pages.ts';
import { historyPage } from './history-page.ts';
import { hostPages } from './host-pages.ts';
import { imagePages } from './image-pages.ts';
import { LiveProgress } from './live.ts';
import { accountLogin, cookieValue, Logins, sessionCookie, type Authenticate } from './logins.ts';
import { clientAddress, LoginGuard } from '../auth/login-guard.ts';
import { liveContext, overviewContext } from './overview.ts';
import { Views } from './views.ts';

export const COOKIE = 'netrestore_console';
const LOGIN_CSRF_COOKIE = 'netrestore_login';

export interface ConsoleOptions {
  state: State;
  store: ImageStore;
  log: Logger;
  /** Who may log in; default: the accounts, or user "admin" with the admin token while there is none. */
  authenticate?: Authenticate;
  /** The login throttle the boot menu and the API share (by source address). */
  loginGuard?: LoginGuard;
  isAdmin: (token: string | undefined) => boolean;
  idleMs?: number;
  /** Drills started from the console: where runs are kept, the store and restore environment they use. */
  drills?: { dir: string; images: string; bootDir: string; bin?: string };
}

const ASSETS: Record<string, string> = { 'console.css': 'text/css; charset=utf-8', 'console.js': 'text/javascript; charset=utf-8' };

export function webConsole(o: ConsoleOptions): { router: Router; live: LiveProgress; drills: Console['drills'] } {
  const records = o.drills ? new DrillRecords(o.drills.dir) : undefined;
  const c: Console = {
    state: o.state,
    store: o.store,
    log: o.log,
    views: new Views(),
    live: new LiveProgress(),
    drills:
      records && o.drills
        ? {
            records,
            runner: new DrillRunner({
              records,
              images: o.drills.images,
              bootDir: o.drills.bootDir,
              ...(o.drills.bin ? { bin: o.drills.bin } : {}),
              onEnd: (r) => {
                o.state.audit.record({ actor: 'drill', action: 'drill-end', image: r.image, detail: `run ${r.id}: ${r.state}${r.error ? `: ${r.error}` : ''}` });
                o.log.info('console.drill-end', { run: r.id, image: r.image, state: r.state, error: r.error ?? undefined });
              },
            }),
          }
        : undefined,
  };
  const logins = new Logins({ ...(o.idleMs ? { idleMs: o.idleMs } : {}) });
  const authenticate = o.authenticate ?? accountLogin(o.state.users, o.isAdmin);
  const guard = o.loginGuard ?? new LoginGuard();
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 50 });
  const secure = (req: Request) => req.secure;

  const assets = new Map(Object.keys(ASSETS).map((f) => [f, readFileSync(join(import.meta.dirname, 'assets', f))]));
  router.get('/assets/:file', (req, res, next) => {
    const body = assets.get(String(req.params.file));
    if (!body) return next();
    res.type(ASSETS[String(req.params.file)]!).set('cache-control', 'no-cache').send(body);
  });

  // Every console answer: no framing by other sites, no sniffing, nothing loaded from elsewhere.
  const headers = (_req: Request, res: Response, next: NextFunction) => {
    res.set({
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
    });
    next();
  };

  const loginPage = (req: Request, res: Response, status = 200, error?: string, name = '') => {
    const token = randomBytes(24).toString('base64url');
    res
      .status(status)
      .set('set-cookie', sessionCookie(LOGIN_CSRF_COOKIE, token, { secure: secure(req) }))
      .type('html')
      .send(c.views.page('login', { title: 'Log in', csrf: token, error, name, bare: true }));
  };

  router.get('/login', headers, (req, res) => {
    if (logins.use(cookieValue(req.get('cookie'), COOKIE))) return void res.redirect(303, '/');
    loginPage(req, res);
  });

  router.post('/login', headers, form, async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const expected = cookieValue(req.get('cookie'), LOGIN_CSRF_COOKIE);
    if (!expected || b._csrf !== expected) return void loginPage(req, res, 403, 'The form was refused: its security token is missing or stale. Log in again from this page.');
    const name = typeof b.name === 'string' ? b.name.trim().slice(0, 100) : '';
    const password = typeof b.password === 'string' ? b.password : '';
    if (!name || !password) return void loginPage(req, res, 400, 'Type your user name and password.', name);
    const from = clientAddress(req.ip);
    const wait = guard.wait(from, Date.now());
    if (wait > 0) return void loginPage(req, res, 429, `Too many wrong logins from this address: wait ${wait} s.`, name);
    const user = await authenticate(name, password);
    if (!user) {
      const delay = guard.failed(from, Date.now());
      // The name only when it is an account's: a password typed into the name field must not be kept.
      const known = o.state.users.credentials(name) !== undefined ? name : undefined;
      o.state.audit.record({ actor: `console ${known ?? 'an unknown user name'} (${from})`, action: 'login-failed', detail: `web console; next try in ${delay} s` });
      o.log.warn('console.login-failed', { user: known, from, nextWaitSeconds: delay });
      return void loginPage(req, res, 401, 'Wrong user name or password.', name);
    }
    guard.succeeded(from);
    const token = logins.open(user);
    o.state.audit.record({ actor: `console ${user.name} (${req.ip ?? '?'})`, action: 'login', detail: `web console, role ${user.role}` });
    res.set('set-cookie', [sessionCookie(COOKIE, token, { secure: secure(req) }), sessionCookie(LOGIN_CSRF_COOKIE, '', { secure: secure(req), maxAgeS: 0 })]).redirect(303, '/');
  });

  /** A logged-in person, or the login page: nothing else is shown to anyone else. */
  const requireLogin = (req: Request, res: Response, next: NextFunction) => {
    const s = logins.use(cookieValue(req.get('cookie'), COOKIE));
    if (!s) {
      if (req.method === 'GET' && req.get('accept')?.includes('text/event-stream')) return void res.status(401).end();
      return void res.redirect(303, '/login');
    }
    res.locals.console = s;
    res.locals.caller = { kind: 'user', name: s.name, role: s.role };
    next();
  };

  /** Every POST: the session's own CSRF token, or nothing happens. */
  const csrf = (req: Request, res: Response, next: NextFunction) => {
    const posted = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (Logins.csrfOk(sessionOf(res), posted)) return next();
    o.log.warn('console.csrf-refused', { path: req.path, from: req.ip, user: sessionOf(res).name });
    message(c, res, 403, 'Refused', 'The form was refused: its security token is missing or stale. Reload the page and try again.');
  };

  const page = [headers, requireLogin];
  const post = [headers, requireLogin, form, csrf];

  router.post('/logout', ...post, (req, res) => {
    audit(c, req, res, { action: 'logout', detail: 'web console' });
    logins.close(cookieValue(req.get('cookie'), COOKIE));
    res.set('set-cookie', sessionCookie(COOKIE, '', { secure: secure(req), maxAgeS: 0 })).redirect(303, '/login');
  });

  router.get('/', ...page, async (_req, res) => {
    render(c, res, 'overview', { title: 'Overview', ...(await overviewContext(c)) });
  });

  // The overview's live region, pushed whenever an agent reports and every few seconds (tasks start and end).
  router.get('/events', ...page, (req, res) => {
    const token = cookieValue(req.get('cookie'), COOKIE);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let pending: NodeJS.Timeout | undefined;
    let last = '';
    const push = () => {
      pending = undefined;
      // A logout or the idle timeout ends the stream too; the stream itself does not keep a session alive.
      if (!logins.peek(token)) return void res.end();
      const html = c.views.fragment('live', liveContext(c));
      // Only what changed: a screen reader reads the live region each time it is replaced.
      if (html === last) return;
      last = html;
      res.write(`event: live\ndata: ${html.replace(/\n/g, '\ndata: ')}\n\n`);
    };
    const soon = () => (pending ??= setTimeout(push, 250));
    const tick = setInterval(push, 2000);
    c.live.on('change', soon);
    push();
    req.on('close', () => {
      clearInterval(tick);
      clearTimeout(pending);
      c.live.off('change', soon);
    });
  });

  hostPages(router, c, { page, post });
  imagePages(router, c, { page, post });
  drillPages(router, c, { page, post });
  historyPage(router, c, { page });

  return { router, live: c.live, drills: c.drills };
}
