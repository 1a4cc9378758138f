/**
 * The admin API (JSON): hosts, one-shot tasks, history, the audit log. Viewers
 * read, operators change hosts and tasks, only admins (and the admin token)
 * forget hosts: each route names its permission (auth/roles.ts).
 *
 *   GET    /api/hosts                 hosts with their current task
 *   PUT    /api/hosts/:mac            { name?, notes?, ignore?, menuTimeout?, uefiBoot? }: add or edit
 *   DELETE /api/hosts/:mac            forget a host and cancel its task
 *   POST   /api/hosts/:mac/task       { kind: "restore" | "capture", image, disk? }
 *   DELETE /api/hosts/:mac/task       cancel the pending or started task
 *   GET    /api/history?limit=        restores and captures, newest first
 *   GET    /api/audit?host=&image=&since=&limit=   who changed what, newest first
 *
 * Every change writes an audit row naming the caller.
 */
import express from 'express';
import type { Logger } from '../log.ts';
import type { State } from '../state/stores.ts';
import { actorOf, RouteTable } from './auth.ts';
import { fail, input } from './reply.ts';
import { checkDiskPath, checkHostName } from '../shared/names.ts';
import { auditQuery, historyQuery, hostBody, macParam, taskBody } from './schemas.ts';

export function adminRoutes(o: { state: State; log: Logger }): RouteTable {
  const { hosts, tasks, history, audit } = o.state;
  const r = new RouteTable();

  r.get('/hosts', 'hosts.read', (_req, res) => {
    res.json(hosts.list().map((h) => ({ ...h, task: tasks.latest(h.mac) ?? null })));
  });

  r.put('/hosts/:mac', 'hosts.write', express.json(), (req, res) => {
    const mac = input(macParam, req.params.mac, 'mac');
    const b = input(hostBody, req.body ?? {}, 'body');
    if (b.name) checkHostName(b.name); // the menu shows it
    const known = hosts.get(mac) !== undefined;
    hosts.upsert({ mac, name: b.name ?? null, notes: b.notes ?? null, ignore: b.ignore, menuTimeout: b.menuTimeout ?? null, uefiBoot: b.uefiBoot });
    audit.record({ actor: actorOf(req, res), action: known ? 'host-edit' : 'host-add', mac, detail: JSON.stringify(b) });
    res.json(hosts.get(mac));
  });

  r.delete('/hosts/:mac', 'hosts.delete', (req, res) => {
    const mac = input(macParam, req.params.mac, 'mac');
    if (!hosts.get(mac)) return void fail(res, 404, `no host ${mac}`);
    const cancelled = tasks.cancel(mac);
    hosts.remove(mac);
    audit.record({ actor: actorOf(req, res), action: 'host-remove', mac, detail: cancelled ? 'its task cancelled' : null });
    res.json({ removed: mac, cancelled });
  });

  r.post('/hosts/:mac/task', 'tasks.write', express.json(), (req, res) => {
    const mac = input(macParam, req.params.mac, 'mac');
    const b = input(taskBody, req.body, 'body');
    if (b.disk !== undefined) checkDiskPath(b.disk); // it goes on the kernel command line
    if (!hosts.get(mac)) hosts.upsert({ mac });
    const task = tasks.create(mac, b.kind, b.image, b.disk ?? null);
    audit.record({ actor: actorOf(req, res), action: 'task-create', mac, image: task.image, detail: `task ${task.id} ${task.kind}${task.disk ? ` to ${task.disk}` : ''}` });
    o.log.info('task.created', { task: task.id, mac, kind: task.kind, image: task.image });
    res.status(201).json(task);
  });

  r.delete('/hosts/:mac/task', 'tasks.write', (req, res) => {
    const mac = input(macParam, req.params.mac, 'mac');
    const task = tasks.current(mac);
    const n = tasks.cancel(mac);
    if (task && n) audit.record({ actor: actorOf(req, res), action: 'task-cancel', mac, image: task.image, detail: `task ${task.id} ${task.kind} (${task.state})` });
    res.json({ cancelled: n });
  });

  r.get('/history', 'history.read', (req, res) => {
    res.json(history.list(input(historyQuery, req.query, 'query').limit));
  });

  r.get('/audit', 'audit.read', (req, res) => {
    const q = input(auditQuery, req.query, 'query');
    res.json(audit.list({ mac: q.host, image: q.image, since: q.since, limit: q.limit }));
  });

  return r;
}
