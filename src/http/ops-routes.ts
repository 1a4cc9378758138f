/**
 * GET /healthz and GET /metrics, both public: a load balancer, systemd or a
 * monitoring probe asks without a token, and neither answer holds a secret
 * or a path: /healthz names parts and reasons (file names, not paths) and
 * the MACs of firmware that ignores our offers, which every machine on the
 * boot network sees anyway; /metrics holds counts only. An admin who wants
 * them closed keeps the HTTP port to the boot network and the monitoring host.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Health } from '../health/health.ts';
import type { HttpHooks } from '../metrics/hooks.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { RouteTable } from './auth.ts';

export function opsRoutes(o: { health: Health; metrics: Metrics }): RouteTable {
  const r = new RouteTable();
  r.get('/healthz', 'public', async (_req, res) => {
    const report = await o.health.report();
    res.status(report.ok ? 200 : 503).set('Cache-Control', 'no-store').json(report);
  });
  r.get('/metrics', 'public', async (_req, res) => {
    res.set('Content-Type', o.metrics.contentType).set('Cache-Control', 'no-store').send(await o.metrics.text());
  });
  return r;
}

/** The route a request matched, as declared (a pattern, never the path: paths carry names and hashes). */
function routeOf(req: Request): string {
  const p = (req.route as { path?: string | RegExp } | undefined)?.path;
  if (p === undefined) return 'unmatched';
  return typeof p === 'string' ? req.baseUrl + p : String(p);
}

/** Count every answered request once it is finished: route, status and the bytes written. */
export function countRequests(hooks: HttpHooks) {
  return (req: Request, res: Response, next: NextFunction) => {
    const before = req.socket.bytesWritten;
    res.once('finish', () => hooks.request(req.method, routeOf(req), res.statusCode, Math.max(0, req.socket.bytesWritten - before)));
    next();
  };
}
