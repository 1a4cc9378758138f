/**
 * One-shot tasks per host (restore IMAGE, capture NAME), boot sessions (the
 * short-lived tokens on a kernel command line), history and the audit log.
 * A task is pending until the agent starts it, then started, then done or
 * failed: a host boots into its task once, never in a loop.
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { sha256 } from '../shared/format.ts';
import { normalizeMac } from './hosts.ts';

export type TaskKind = 'restore' | 'capture';
export type TaskState = 'pending' | 'started' | 'done' | 'failed' | 'cancelled';

export interface Task {
  id: number;
  mac: string;
  kind: TaskKind;
  image: string;
  disk: string | null;
  state: TaskState;
  error: string | null;
  created: number;
  updated: number;
}

export interface Session {
  mac: string;
  mode: string;
  image: string | null;
  task: number | null;
  expires: number;
}


export class TaskStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** A new task replaces the host's pending one (the admin changed their mind). */
  create(mac: string, kind: TaskKind, image: string, disk: string | null, now = Date.now()): Task {
    const m = normalizeMac(mac);
    this.#db.prepare("UPDATE tasks SET state = 'cancelled', updated = ? WHERE mac = ? AND state = 'pending'").run(now, m);
    const r = this.#db.prepare("INSERT INTO tasks (mac, kind, image, disk, state, created, updated) VALUES (?, ?, ?, ?, 'pending', ?, ?)").run(m, kind, image, disk, now, now);
    return this.get(Number(r.lastInsertRowid))!;
  }

  get(id: number): Task | undefined {
    return this.#db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as Task | undefined;
  }

  /** The task that decides this host's next boot: pending or started, newest first. */
  current(mac: string): Task | undefined {
    return this.#db.prepare("SELECT * FROM tasks WHERE mac = ? AND state IN ('pending', 'started') ORDER BY id DESC LIMIT 1").get(normalizeMac(mac)) as Task | undefined;
  }

  /** The newest task of a host whatever its state: a failed one stays visible with its error. */
  latest(mac: string): Task | undefined {
    return this.#db.prepare('SELECT * FROM tasks WHERE mac = ? ORDER BY id DESC LIMIT 1').get(normalizeMac(mac)) as Task | undefined;
  }

  setState(id: number, state: TaskState, error: string | null = null, now = Date.now()): void {
    this.#db.prepare('UPDATE tasks SET state = ?, error = ?, updated = ? WHERE id = ?').run(state, error, now, id);
  }

  cancel(mac: string, now = Date.now()): number {
    return Number(this.#db.prepare("UPDATE tasks SET state = 'cancelled', updated = ? WHERE mac = ? AND state IN ('pending', 'started')").run(now, normalizeMac(mac)).changes);
  }

  // ---- sessions: the token a booted agent presents ----

  openSession(s: Omit<Session, 'expires'>, ttlMs: number, now = Date.now()): string {
    const token = randomBytes(24).toString('base64url');
    this.#db.prepare('DELETE FROM sessions WHERE expires < ?').run(now);
    this.#db.prepare('INSERT INTO sessions (token_sha256, mac, mode, image, task, expires) VALUES (?, ?, ?, ?, ?, ?)').run(sha256(token), normalizeMac(s.mac), s.mode, s.image, s.task, now + ttlMs);
    return token;
  }

  session(token: string, now = Date.now()): Session | undefined {
    const s = this.#db.prepare('SELECT mac, mode, image, task, expires FROM sessions WHERE token_sha256 = ?').get(sha256(token)) as Session | undefined;
    return s && s.expires > now ? s : undefined;
  }

  // ---- history and audit ----

  recordHistory(h: { mac: string; kind: string; image: string; started: number; ended: number | null; bytes: number | null; result: string; error: string | null }): void {
    this.#db.prepare('INSERT INTO history (mac, kind, image, started, ended, bytes, result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(h.mac, h.kind, h.image, h.started, h.ended, h.bytes, h.result, h.error);
  }

  history(): Record<string, unknown>[] {
    return this.#db.prepare('SELECT * FROM history ORDER BY id DESC LIMIT 200').all() as Record<string, unknown>[];
  }

  audit(actor: string, action: string, detail: string, now = Date.now()): void {
    this.#db.prepare('INSERT INTO audit (time, actor, action, detail) VALUES (?, ?, ?, ?)').run(now, actor, action, detail);
  }
}
