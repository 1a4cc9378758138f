/** The HTTP face: express on one port, for iPXE (boot scripts, menus, boot files) and for agents and admins (/api). */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
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
import { webConsole, type ConsoleOptions } from '../console/console.ts';

export interface HttpOptions {
  listen: string;
  port: number;
  store: ImageStore;
  log: Logger;
  /** The admin token check (constant time). */
  isAdmin: (token: string | undefined) => boolean;
  state: State;
  /** The boot face (menus, boot files); absent: the API only. */
  boot?: Omit<BootRoutesOptions, 'log'>;
  /** The web console at / (src/console); absent: none. */
  console?: Pick<ConsoleOptions, 'authenticate' | 'idleMs' | 'drills'>;
}

/** Every route with its scope (the one table), and the app that serves them. */
export function buildApp(o: Omit<HttpOptions, 'listen' | 'port'>): { app: Express; routes: RouteInfo[] } {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, _res: Response, next: NextFunction) => {
    o.log.debug('http.request', { method: req.method, path: req.path, from: req.ip });
    next();
  });
  const web = o.console ? webConsole({ ...o.console, state: o.state, store: o.store, log: o.log, isAdmin: o.isAdmin }) : undefined;
  if (web) app.use(web.router);
  const table = new RouteTable();
  if (o.boot) table.include('', bootRoutes({ ...o.boot, log: o.log }));
  table
    .include('/api', taskRoutes({ state: o.state, log: o.log }))
    .include('/api', adminRoutes({ state: o.state, log: o.log }))
    .include('/api', imageRoutes({ store: o.store, log: o.log, audit: o.state.audit, ...(web ? { onProgress: (p, from) => web.live.report(p, from) } : {}) }));
  table.mount(app, { isAdmin: o.isAdmin, session: (t) => o.state.sessions.get(t) }, o.log);
  // A path no route declares: 404 whatever the token (a guess at the API learns nothing more).
  app.use((_req: Request, res: Response) => void fail(res, 404, 'not found'));
  // A failed handler answers with one line (4xx for the client's mistakes, 500 logged); the server keeps going.
  app.use(errorHandler(o.log));
  return { app, routes: table.list() };
}

export async function startHttpServer(o: HttpOptions): Promise<{ port: number; routes: RouteInfo[]; close(): Promise<void> }> {
  const { app, routes } = buildApp(o);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.listen);
    s.once('listening', () => resolve(s));
    s.once('error', (err) => reject(bindError(err, 'HTTP', o.listen, o.port, '--http-port')));
  });
  return {
    port: (server.address() as { port: number }).port,
    routes,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
