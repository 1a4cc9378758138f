/**
 * The HTTP face: express on one port, for iPXE (boot scripts, menus, boot
 * files) and for agents and admins (/api). With TLS on, a second server on
 * the HTTPS port serves all of it, and the plain port keeps only what iPXE
 * needs: its /api answers 403 HTTPS_REQUIRED, so no token or upload is taken
 * in clear from a client that could have used TLS.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { bindError } from '../shared/errors.ts';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import type { State } from '../state/stores.ts';
import { RouteTable, type RouteInfo } from './auth.ts';
import { imageRoutes } from './images-api.ts';
import { bootRoutes, type BootRoutesOptions } from './boot-routes.ts';
import { taskRoutes } from './tasks-api.ts';
import { adminRoutes } from './admin-api.ts';
import { errorHandler, fail } from './reply.ts';
import { apiCredentials } from './credentials.ts';
import type { LoginGuard } from '../auth/login-guard.ts';
import { applyLimits, limitRequests, limitsWith, serverOptions, type HttpLimits } from './limits.ts';
import { countRequests, opsRoutes } from './ops-routes.ts';
import type { Health } from '../health/health.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { webConsole, type ConsoleOptions } from '../console/console.ts';

export interface HttpOptions {
  listen: string;
  port: number;
  store: ImageStore;
  log: Logger;
  /** The admin token check (constant time). */
  isAdmin: (token: string | undefined) => boolean;
  state: State;
  /** The login throttle, shared with the boot menu (absent: one of its own). */
  loginGuard?: LoginGuard;
  /** The boot face (menus, boot files); absent: the API only. */
  boot?: Omit<BootRoutesOptions, 'log'>;
  /** Size, time and concurrency bounds (limits.ts); the defaults when absent. */
  limits?: Partial<HttpLimits>;
  /** Serve over TLS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** The https:// base that serves the API instead of this (plain) server. */
  apiOnlyAt?: string;
  /** /healthz and /metrics, and the request counters. */
  ops?: { health: Health; metrics: Metrics };
  /** The web console at / (src/console); absent: none. */
  console?: Pick<ConsoleOptions, 'authenticate' | 'idleMs' | 'drills'>;
}

/** Every route with its scope (the one table), and the app that serves them. */
export function buildApp(o: Omit<HttpOptions, 'listen' | 'port' | 'tls'>): { app: Express; routes: RouteInfo[] } {
  const app = express();
  app.disable('x-powered-by');
  app.use(limitRequests(limitsWith(o.limits)));
  app.use((req: Request, _res: Response, next: NextFunction) => {
    o.log.debug('http.request', { method: req.method, path: req.path, from: req.ip });
    next();
  });
  if (o.ops) app.use(countRequests(o.ops.metrics.http));
  // The console carries logins and secrets: with TLS on, only on the HTTPS server.
  const web = o.console && !o.apiOnlyAt ? webConsole({ ...o.console, state: o.state, store: o.store, log: o.log, isAdmin: o.isAdmin, ...(o.loginGuard ? { loginGuard: o.loginGuard } : {}) }) : undefined;
  if (web) app.use(web.router);
  const table = new RouteTable();
  if (o.ops) table.include('', opsRoutes(o.ops));
  if (o.boot) table.include('', bootRoutes({ ...o.boot, log: o.log }));
  if (!o.apiOnlyAt) {
    table
      .include('/api', taskRoutes({ state: o.state, log: o.log }))
      .include('/api', adminRoutes({ state: o.state, log: o.log }))
      .include('/api', imageRoutes({ store: o.store, log: o.log, audit: o.state.audit, sessions: o.state.sessions, ...(web ? { onProgress: (p, from) => web.live.report(p, from) } : {}) }));
  }
  table.mount(app, apiCredentials({ state: o.state, store: o.store, isAdmin: o.isAdmin, loginGuard: o.loginGuard }), o.log);
  if (o.apiOnlyAt) {
    const at = o.apiOnlyAt;
    app.use('/api', (_req: Request, res: Response) => void fail(res, 403, `this server takes the API over HTTPS only: use ${at}/api with the fingerprint of its https.listening log line`, 'HTTPS_REQUIRED'));
  }
  // A path no route declares: 404 whatever the token (a guess at the API learns nothing more).
  app.use((_req: Request, res: Response) => void fail(res, 404, 'not found'));
  // A failed handler answers with one line (4xx for the client's mistakes, 500 logged); the server keeps going.
  app.use(errorHandler(o.log));
  return { app, routes: table.list() };
}

export async function startHttpServer(o: HttpOptions): Promise<{ port: number; routes: RouteInfo[]; close(): Promise<void>; drain(ms: number): Promise<string[]> }> {
  const { app, routes } = buildApp(o);
  const limits = limitsWith(o.limits);
  const server: Server = await new Promise((resolve, reject) => {
    const s = o.tls ? createHttpsServer({ ...serverOptions(limits), cert: o.tls.cert, key: o.tls.key }, app) : createServer(serverOptions(limits), app);
    applyLimits(s, limits);
    s.listen(o.port, o.listen);
    s.once('listening', () => resolve(s));
    s.once('error', (err) => reject(bindError(err, o.tls ? 'HTTPS' : 'HTTP', o.listen, o.port, o.tls ? '--https-port' : '--http-port')));
  });
  // Requests under way, for a stop that lets them finish (a chunk a restore is fetching, an upload).
  const inflight = new Map<IncomingMessage, string>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // The path only: a login's query holds a password.
    inflight.set(req, `${req.method} ${(req.url ?? '').split('?')[0]}`);
    res.on('close', () => inflight.delete(req));
  });
  return {
    port: (server.address() as { port: number }).port,
    routes,
    drain: (ms) => waitWhile(() => inflight.size > 0, ms, () => server.close()).then(() => [...inflight.values()]),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Start `stop` (no new work), then wait until `busy` turns false or `ms` run out. */
async function waitWhile(busy: () => boolean, ms: number, stop: () => void): Promise<void> {
  stop();
  const until = Date.now() + ms;
  while (busy() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}
