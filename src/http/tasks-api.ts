/**
 * What a booted agent reports about its task:
 *
 *   POST /api/tasks/:id   { state: "started" | "done" | "failed", error?, bytes? }
 *
 * "started" makes the next boot show the menu instead of the task; "done"
 * and "failed" end it and go into the history, and end the task's boot
 * sessions. Allowed to the session minted for this very task (403 for
 * another's), to operators and to the admin token (auth/access.ts).
 */
import express from 'express';
import type { Logger } from '../log.ts';
import type { State } from '../state/stores.ts';
import { RouteTable } from './auth.ts';
import { fail, input } from './reply.ts';
import { taskId, taskReport } from './schemas.ts';

export function taskRoutes(o: { state: State; log: Logger }): RouteTable {
  const { tasks, history } = o.state;
  const r = new RouteTable();
  r.post('/tasks/:id', 'tasks.report', express.json(), (req, res) => {
    const id = input(taskId, req.params.id, 'id');
    const task = tasks.get(id);
    if (!task) return void fail(res, 404, `no task ${id}`);
    const b = input(taskReport, req.body, 'body');
    const error = b.state === 'failed' ? (b.error ?? 'the agent reported a failure without a reason') : null;
    tasks.setState(id, b.state, error);
    if (b.state !== 'started') {
      history.record({ mac: task.mac, kind: task.kind, image: task.image, started: task.updated, ended: Date.now(), bytes: b.bytes ?? null, result: b.state, error });
    }
    o.log.info('task.state', { task: id, mac: task.mac, kind: task.kind, image: task.image, state: b.state, bytes: b.bytes, error: error ?? undefined });
    res.status(204).end();
  });
  return r;
}
