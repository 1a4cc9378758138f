/**
 * Drills: results per image (phases, the JUnit report, the serial log of a
 * failed run) and starting one, which queues the real `netrestore drill`
 * on the server (drills.ts).
 */
import type { RequestHandler, Router } from 'express';
import { audit, message, permit, render, type Console } from './context.ts';
import { serialLog } from './drills.ts';
import { drillForm, parseForm } from './forms.ts';

type Chains = { page: RequestHandler[]; post: RequestHandler[] };

export function drillPages(router: Router, c: Console, { page, post }: Chains): void {
  const listPage = async (res: Parameters<RequestHandler>[1], extra: Record<string, unknown> = {}, status = 200) => {
    const runs = c.drills?.records.list() ?? [];
    const images = (await c.store.listManifests()).map((m) => m.name);
    const byImage = images.map((image) => ({ image, runs: runs.filter((r) => r.image === image).slice(0, 10) }));
    const orphans = runs.filter((r) => !images.includes(r.image));
    render(c, res, 'drills', { title: 'Drills', enabled: c.drills !== undefined, images, byImage, orphans, ...extra }, status);
  };

  router.get('/drills', ...page, (_req, res) => listPage(res));

  router.post('/drills', ...post, async (req, res) => {
    if (!permit(c, res, 'drill-start')) return;
    if (!c.drills) return listPage(res, { error: 'Drills are not set up on this server.' }, 400);
    const f = parseForm(drillForm, req.body);
    if (!f.ok) return listPage(res, { error: f.error }, 400);
    if (!(await c.store.readManifest(f.data.image))) return listPage(res, { error: `There is no image named ${f.data.image}: choose one from the list.` }, 400);
    const run = c.drills.runner.start(f.data.image, f.data.firmware, `${res.locals.console.name}`);
    audit(c, req, res, { action: 'drill-start', image: f.data.image, detail: `run ${run.id} (${f.data.firmware})` });
    res.redirect(303, `/drills/${run.id}`);
  });

  router.get('/drills/:id', ...page, (req, res) => {
    const id = String(req.params.id);
    const run = c.drills?.records.get(id);
    if (!run) return message(c, res, 404, 'No such drill', `There is no drill run ${id}.`);
    const report = c.drills!.records.report(id);
    const failed = run.phases.find((p) => !p.ok) ?? null;
    render(c, res, 'drill', { title: `Drill of ${run.image}`, run, failed, report: report !== undefined, serial: report && run.state !== 'passed' ? serialLog(report) : null, running: run.state === 'queued' || run.state === 'running' });
  });

  router.get('/drills/:id/report.xml', ...page, (req, res) => {
    const id = String(req.params.id);
    const report = c.drills?.records.report(id);
    if (report === undefined) return message(c, res, 404, 'No report', `Drill run ${id} wrote no JUnit report.`);
    res.type('application/xml').set('content-disposition', `inline; filename="drill-${id}.xml"`).send(report);
  });
}
