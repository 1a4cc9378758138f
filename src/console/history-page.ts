/** History (restores and captures that ended) and the audit log, filtered by host, image and result. */
import type { RequestHandler, Router } from 'express';
import { render, type Console } from './context.ts';
import { historyFilter, parseForm } from './forms.ts';

export function historyPage(router: Router, c: Console, { page }: { page: RequestHandler[] }): void {
  router.get('/history', ...page, (req, res) => {
    const q = req.query as Record<string, unknown>;
    const f = parseForm(historyFilter, { host: q.host, image: q.image, result: q.result });
    const shown = { host: typeof q.host === 'string' ? q.host : '', image: typeof q.image === 'string' ? q.image : '', result: typeof q.result === 'string' ? q.result : '' };
    if (!f.ok) return render(c, res, 'history', { title: 'History', error: f.error, filter: shown, history: [], audit: [] }, 400);
    const { host, image, result } = f.data;
    const names = new Map(c.state.hosts.list().map((h) => [h.mac, h.name]));
    const history = c.state.history
      .list(5000)
      .filter((e) => (!host || e.mac === host) && (!image || e.image === image) && (!result || e.result === result))
      .slice(0, 200)
      .map((e) => ({ ...e, host: names.get(e.mac) || e.mac, failed: e.result === 'failed', seconds: e.ended ? (e.ended - e.started) / 1000 : null }));
    // The audit log has no result: it is filtered by host and image only.
    const audit = c.state.audit.list({ ...(host ? { mac: host } : {}), ...(image ? { image } : {}), limit: 200 });
    render(c, res, 'history', { title: 'History', filter: shown, history, audit });
  });
}
