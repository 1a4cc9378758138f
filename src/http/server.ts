/** The HTTP face: express on one port, for iPXE (boot scripts, menus, boot files) and for agents and admins (/api). */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { bindError } from '../shared/errors.ts';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import { imagesApi } from './images-api.ts';
import { bootRoutes, type BootRoutesOptions } from './boot-routes.ts';
import { tasksApi } from './tasks-api.ts';
import { adminApi } from './admin-api.ts';
import type { HostStore } from '../state/hosts.ts';
import type { TaskStore } from '../state/tasks.ts';

export interface HttpOptions {
  listen: string;
  port: number;
  store: ImageStore;
  log: Logger;
  /** The admin token. */
  isAdmin: (token: string | undefined) => boolean;
  tasks: TaskStore;
  hosts: HostStore;
  /** The boot face (menus, boot files); absent: the images API only. */
  boot?: Omit<BootRoutesOptions, 'log'>;
}

export async function startHttpServer(o: HttpOptions): Promise<{ port: number; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, _res: Response, next: NextFunction) => {
    o.log.debug('http.request', { method: req.method, path: req.path, from: req.ip });
    next();
  });
  if (o.boot) app.use(bootRoutes({ ...o.boot, log: o.log }));
  app.use('/api', tasksApi({ tasks: o.tasks, log: o.log, isAdmin: o.isAdmin }));
  app.use('/api', adminApi({ hosts: o.hosts, tasks: o.tasks, log: o.log, isAdmin: o.isAdmin }));
  // Agents booted from the menu present their session token; admins and capture scripts the admin token.
  app.use('/api', imagesApi({ store: o.store, log: o.log, authorize: (t) => o.isAdmin(t) || (t !== undefined && o.tasks.session(t) !== undefined) }));
  app.use((_req: Request, res: Response) => res.status(404).json({ error: 'not found' }));
  // A failed handler answers 500 with one line and is logged; the server keeps going.
  app.use((err: Error, req: Request, res: Response, _next: NextFunction) => {
    o.log.error('http.error', { method: req.method, path: req.path, reason: err.message });
    if (!res.headersSent) res.status(500).json({ error: err.message });
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.listen);
    s.once('listening', () => resolve(s));
    s.once('error', (err) => reject(bindError(err, 'HTTP', o.listen, o.port, '--http-port')));
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
