/** The HTTP face: express on one port, for iPXE (boot scripts, menus, boot files) and for agents and admins (/api). */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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
}

/** Every route with its scope (the one table), and the app that serves them. */
export function buildApp(o: Omit<HttpOptions, 'listen' | 'port'>): { app: Express; routes: RouteInfo[] } {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, _res: Response, next: NextFunction) => {
    o.log.debug('http.request', { method: req.method, path: req.path, from: req.ip });
    next();
  });
  const table = new RouteTable();
  if (o.boot) table.include('', bootRoutes({ ...o.boot, log: o.log }));
  table
    .include('/api', taskRoutes({ state: o.state, log: o.log }))
    .include('/api', adminRoutes({ state: o.state, log: o.log }))
    .include('/api', imageRoutes({ store: o.store, log: o.log, audit: o.state.audit }));
  table.mount(app, { isAdmin: o.isAdmin, session: (t) => o.state.sessions.get(t) }, o.log);
  // A path no route declares: 404 whatever the token (a guess at the API learns nothing more).
  app.use((_req: Request, res: Response) => void fail(res, 404, 'not found'));
  // A failed handler answers with one line (4xx for the client's mistakes, 500 logged); the server keeps going.
  app.use(errorHandler(o.log));
  return { app, routes: table.list() };
}

export async function startHttpServer(o: HttpOptions): Promise<{ port: number; routes: RouteInfo[]; close(): Promise<void>; drain(ms: number): Promise<string[]> }> {
  const { app, routes } = buildApp(o);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.listen);
    s.once('listening', () => resolve(s));
    s.once('error', (err) => reject(bindError(err, 'HTTP', o.listen, o.port, '--http-port')));
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
