/**
 * What a booted agent reports about its task:
 *
 *   POST /api/tasks/:id   { state: "started" | "done" | "failed", error?, bytes? }
 *
 * "started" makes the next boot show the menu instead of the task; "done"
 * and "failed" end it and go into the history. Allowed with the admin token,
 * or with the session token that was minted for this very task.
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from '../log.ts';
import { bearerToken } from './bearer.ts';
import type { TaskStore } from '../state/tasks.ts';

export function tasksApi(o: { tasks: TaskStore; log: Logger; isAdmin: (token: string | undefined) => boolean }): express.Router {
  const r = express.Router();
  r.post('/tasks/:id', express.json(), (req: Request, res: Response) => {
    const id = Number(req.params.id);
    const token = bearerToken(req);
    const session = token ? o.tasks.session(token) : undefined;
    if (!o.isAdmin(token) && session?.task !== id) return void res.status(401).json({ error: 'this token may not report on that task' });
    const task = o.tasks.get(id);
    if (!task) return void res.status(404).json({ error: `no task ${id}` });
    const b = (req.body ?? {}) as { state?: string; error?: string; bytes?: number };
    if (b.state !== 'started' && b.state !== 'done' && b.state !== 'failed') return void res.status(400).json({ error: 'state must be started, done or failed' });
    const error = b.state === 'failed' ? String(b.error ?? 'the agent reported a failure without a reason') : null;
    o.tasks.setState(id, b.state, error);
    if (b.state !== 'started') {
      o.tasks.recordHistory({ mac: task.mac, kind: task.kind, image: task.image, started: task.updated, ended: Date.now(), bytes: typeof b.bytes === 'number' ? b.bytes : null, result: b.state, error });
    }
    o.log.info('task.state', { task: id, mac: task.mac, kind: task.kind, image: task.image, state: b.state, bytes: typeof b.bytes === 'number' ? b.bytes : undefined, error: error ?? undefined });
    res.status(204).end();
  });
  return r;
}
