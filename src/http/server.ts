/** The HTTP face: express on one port. Today it carries the images API; boot files and menus join it later. */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { bindError } from '../errors.ts';
import type { FileStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import { imagesApi } from './images-api.ts';

export interface HttpOptions {
  listen: string;
  port: number;
  store: FileStore;
  log: Logger;
  authorize: (token: string | undefined) => boolean;
}

export async function startHttpServer(o: HttpOptions): Promise<{ port: number; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, _res: Response, next: NextFunction) => {
    o.log.debug('http.request', { method: req.method, path: req.path, from: req.ip });
    next();
  });
  app.use('/api', imagesApi({ store: o.store, log: o.log, authorize: o.authorize }));
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
