/**
 * Hosts: the list (last seen, name, notes, ignore), add and edit, and per
 * host its task: make a restore (the image's date, size and role warnings;
 * domain controllers and Exchange servers ask a second time) or a capture,
 * cancel it, and see its state and error.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { needsConfirmation, ROLE_WARNINGS, type Manifest } from '../shared/format.ts';
import { parseMac } from '../state/hosts.ts';
import { audit, message, permit, render, type Console } from './context.ts';
import { addHostForm, hostFields, parseForm, taskForm } from './forms.ts';

type Chains = { page: RequestHandler[]; post: RequestHandler[] };

const imageChoice = (m: Manifest) => ({
  name: m.name,
  created: m.created,
  size: m.source.size,
  role: m.role,
  description: m.description,
  warning: ROLE_WARNINGS[m.role] ?? null,
  confirm: needsConfirmation(m.role),
});

export function hostPages(router: Router, c: Console, { page, post }: Chains): void {
  const { hosts, tasks, history } = c.state;

  const listPage = (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const rows = hosts.list().map((h) => ({ ...h, task: tasks.latest(h.mac) ?? null }));
    render(c, res, 'hosts', { title: 'Hosts', hosts: rows, form: {}, ...extra }, status);
  };

  const hostPage = async (res: Response, mac: string, extra: Record<string, unknown> = {}, status = 200) => {
    const host = hosts.get(mac);
    if (!host) return message(c, res, 404, 'No such host', `No host ${mac} is known. Add it on the Hosts page.`);
    const images = (await c.store.listManifests()).map(imageChoice).sort((a, b) => b.created.localeCompare(a.created));
    const task = tasks.latest(mac) ?? null;
    const current = tasks.current(mac) ?? null;
    render(c, res, 'host', { title: host.name || host.mac, host, task, current, images, history: history.list(1000).filter((e) => e.mac === mac).slice(0, 20), ...extra }, status);
  };

  const macOf = (req: Request) => parseMac(String(req.params.mac));

  router.get('/hosts', ...page, (_req, res) => listPage(res));

  router.post('/hosts', ...post, (req, res) => {
    if (!permit(c, res, 'host-edit')) return;
    const f = parseForm(addHostForm, req.body);
    if (!f.ok) return listPage(res, { error: f.error, form: req.body }, 400);
    if (hosts.get(f.data.mac)) return listPage(res, { error: `Host ${f.data.mac} is known already: edit it on its page.`, form: req.body }, 409);
    hosts.upsert({ mac: f.data.mac, name: f.data.name || null, notes: f.data.notes || null, ignore: f.data.ignore === 'on' });
    audit(c, req, res, { action: 'host-add', mac: f.data.mac, detail: JSON.stringify({ name: f.data.name, notes: f.data.notes, ignore: f.data.ignore === 'on' }) });
    res.redirect(303, `/hosts/${f.data.mac}`);
  });

  router.get('/hosts/:mac', ...page, async (req, res) => {
    const mac = macOf(req);
    if (!mac) return message(c, res, 404, 'No such host', `${String(req.params.mac)} is not a MAC address.`);
    await hostPage(res, mac);
  });

  router.post('/hosts/:mac', ...post, async (req, res) => {
    if (!permit(c, res, 'host-edit')) return;
    const mac = macOf(req);
    if (!mac || !hosts.get(mac)) return message(c, res, 404, 'No such host', `No host ${String(req.params.mac)} is known.`);
    const f = parseForm(hostFields, req.body);
    if (!f.ok) return hostPage(res, mac, { editError: f.error }, 400);
    // The store keeps what is not given: an emptied field is written as empty text, not "unchanged".
    hosts.upsert({ mac, name: f.data.name, notes: f.data.notes, ignore: f.data.ignore === 'on' });
    audit(c, req, res, { action: 'host-edit', mac, detail: JSON.stringify({ name: f.data.name, notes: f.data.notes, ignore: f.data.ignore === 'on' }) });
    res.redirect(303, `/hosts/${mac}`);
  });

  router.post('/hosts/:mac/task', ...post, async (req, res) => {
    if (!permit(c, res, 'task-create')) return;
    const mac = macOf(req);
    if (!mac || !hosts.get(mac)) return message(c, res, 404, 'No such host', `No host ${String(req.params.mac)} is known.`);
    const f = parseForm(taskForm, req.body);
    if (!f.ok) return hostPage(res, mac, { taskError: f.error }, 400);
    const { kind, image, disk, confirm } = f.data;
    const m = await c.store.readManifest(image);
    if (kind === 'restore') {
      if (!m) return hostPage(res, mac, { taskError: `There is no image named ${image}: choose one from the list.` }, 400);
      // A domain controller or an Exchange server can hurt the rest of the network: a second page, its warning, the name typed back.
      if (needsConfirmation(m.role) && confirm !== image) {
        const asked = confirm !== undefined;
        return render(c, res, 'confirm-task', { title: 'Confirm the restore', host: hosts.get(mac), image: imageChoice(m), disk, error: asked ? `Type the image name ${image} exactly to confirm.` : undefined }, asked ? 400 : 200);
      }
    } else if (m) {
      return hostPage(res, mac, { taskError: `An image named ${image} exists already: give the capture a new name.` }, 409);
    }
    const task = tasks.create(mac, kind, image, disk || null);
    audit(c, req, res, { action: 'task-create', mac, image, detail: `task ${task.id} ${kind}${disk ? ` to ${disk}` : ''}` });
    c.log.info('task.created', { task: task.id, mac, kind, image, via: 'console' });
    res.redirect(303, `/hosts/${mac}`);
  });

  router.post('/hosts/:mac/cancel', ...post, (req, res) => {
    if (!permit(c, res, 'task-cancel')) return;
    const mac = macOf(req);
    if (!mac || !hosts.get(mac)) return message(c, res, 404, 'No such host', `No host ${String(req.params.mac)} is known.`);
    const task = tasks.current(mac);
    if (task && tasks.cancel(mac)) {
      c.live.forget(task.id);
      audit(c, req, res, { action: 'task-cancel', mac, image: task.image, detail: `task ${task.id} ${task.kind} (${task.state})` });
    }
    res.redirect(303, `/hosts/${mac}`);
  });
}
