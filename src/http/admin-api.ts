/**
 * The admin API (JSON, admin token only): hosts, one-shot tasks, history.
 *
 *   GET    /api/hosts                 hosts with their current task
 *   PUT    /api/hosts/:mac            { name?, notes?, ignore? }
 *   POST   /api/hosts/:mac/task       { kind: "restore" | "capture", image, disk? }
 *   DELETE /api/hosts/:mac/task       cancel the pending or started task
 *   GET    /api/history               restores and captures, newest first
 *
 * A request without the admin token is refused before it can change anything.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { NAME_PATTERN } from '../shared/format.ts';
import type { Logger } from '../log.ts';
import { bearerToken } from './bearer.ts';
import { parseMac } from '../state/hosts.ts';
import type { HostStore } from '../state/hosts.ts';
import type { TaskStore } from '../state/tasks.ts';

export function adminApi(o: { hosts: HostStore; tasks: TaskStore; log: Logger; isAdmin: (token: string | undefined) => boolean }): express.Router {
  const r = express.Router();
  const admin = (req: Request, res: Response, next: NextFunction) => {
    if (o.isAdmin(bearerToken(req))) return next();
    o.log.warn('http.unauthorized', { method: req.method, path: req.path, from: req.ip });
    res.status(401).json({ error: 'the admin token is required (Authorization: Bearer TOKEN)' });
  };
  const macOf = (req: Request, res: Response): string | undefined => {
    const mac = parseMac(req.params.mac);
    if (!mac) res.status(400).json({ error: `${String(req.params.mac)} is not a MAC address` });
    return mac;
  };

  r.get('/hosts', admin, (_req, res) => {
    res.json(o.hosts.list().map((h) => ({ ...h, task: o.tasks.latest(h.mac) ?? null })));
  });

  r.put('/hosts/:mac', admin, express.json(), (req, res) => {
    const mac = macOf(req, res);
    if (!mac) return;
    const b = (req.body ?? {}) as { name?: unknown; notes?: unknown; ignore?: unknown; menuTimeout?: unknown };
    const t = b.menuTimeout;
    if (t !== undefined && !(Number.isInteger(t) && (t as number) >= 1 && (t as number) <= 3600)) return void res.status(400).json({ error: 'menuTimeout takes whole seconds from 1 to 3600' });
    o.hosts.upsert({ mac, name: typeof b.name === 'string' ? b.name : null, notes: typeof b.notes === 'string' ? b.notes : null, ignore: typeof b.ignore === 'boolean' ? b.ignore : undefined, menuTimeout: (t as number | undefined) ?? null });
    o.tasks.audit('api', 'host-put', `${mac} ${JSON.stringify(b)}`);
    res.json(o.hosts.get(mac));
  });

  r.post('/hosts/:mac/task', admin, express.json(), (req, res) => {
    const mac = macOf(req, res);
    if (!mac) return;
    const b = (req.body ?? {}) as { kind?: unknown; image?: unknown; disk?: unknown };
    if ((b.kind !== 'restore' && b.kind !== 'capture') || typeof b.image !== 'string' || !NAME_PATTERN.test(b.image)) {
      return void res.status(400).json({ error: 'body must be { "kind": "restore" | "capture", "image": NAME, "disk"?: DEVICE }' });
    }
    if (!o.hosts.get(mac)) o.hosts.upsert({ mac });
    const task = o.tasks.create(mac, b.kind, b.image, typeof b.disk === 'string' ? b.disk : null);
    o.tasks.audit('api', 'task-create', `${task.id} ${task.kind} ${task.image} for ${mac}`);
    o.log.info('task.created', { task: task.id, mac, kind: task.kind, image: task.image });
    res.status(201).json(task);
  });

  r.delete('/hosts/:mac/task', admin, (req, res) => {
    const mac = macOf(req, res);
    if (!mac) return;
    const n = o.tasks.cancel(mac);
    o.tasks.audit('api', 'task-cancel', mac);
    res.json({ cancelled: n });
  });

  r.get('/history', admin, (_req, res) => {
    res.json(o.tasks.history());
  });

  return r;
}
