/**
 * One-shot tasks per host (restore IMAGE, capture NAME). A task is pending
 * until the agent starts it, then started, then done or failed: a host boots
 * into its task once, never in a loop.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
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

const COLUMNS = 'id, mac, kind, image, disk, state, error, created, updated';

export class TaskStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #current: StatementSync;
  readonly #latest: StatementSync;
  readonly #setState: StatementSync;
  readonly #cancelPending: StatementSync;
  readonly #cancel: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare("INSERT INTO tasks (mac, kind, image, disk, state, created, updated) VALUES (?, ?, ?, ?, 'pending', ?, ?)");
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM tasks WHERE id = ?`);
    this.#current = db.prepare(`SELECT ${COLUMNS} FROM tasks WHERE mac = ? AND state IN ('pending', 'started') ORDER BY id DESC LIMIT 1`);
    this.#latest = db.prepare(`SELECT ${COLUMNS} FROM tasks WHERE mac = ? ORDER BY id DESC LIMIT 1`);
    this.#setState = db.prepare('UPDATE tasks SET state = ?, error = ?, updated = ? WHERE id = ?');
    this.#cancelPending = db.prepare("UPDATE tasks SET state = 'cancelled', updated = ? WHERE mac = ? AND state = 'pending'");
    this.#cancel = db.prepare("UPDATE tasks SET state = 'cancelled', updated = ? WHERE mac = ? AND state IN ('pending', 'started')");
  }

  /** A new task replaces the host's pending one (the admin changed their mind). */
  create(mac: string, kind: TaskKind, image: string, disk: string | null, now = Date.now()): Task {
    const m = normalizeMac(mac);
    // One transaction: a reader never sees the host with no task, or with two.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#cancelPending.run(now, m);
      const r = this.#insert.run(m, kind, image, disk, now, now);
      this.#db.exec('COMMIT');
      return this.get(Number(r.lastInsertRowid))!;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  get(id: number): Task | undefined {
    return this.#get.get(id) as Task | undefined;
  }

  /** The task that decides this host's next boot: pending or started, newest first. */
  current(mac: string): Task | undefined {
    return this.#current.get(normalizeMac(mac)) as Task | undefined;
  }

  /** The newest task of a host whatever its state: a failed one stays visible with its error. */
  latest(mac: string): Task | undefined {
    return this.#latest.get(normalizeMac(mac)) as Task | undefined;
  }

  setState(id: number, state: TaskState, error: string | null = null, now = Date.now()): void {
    this.#setState.run(state, error, now, id);
  }

  /** Cancel the host's pending or started task; the number cancelled (0 or 1). */
  cancel(mac: string, now = Date.now()): number {
    return Number(this.#cancel.run(now, normalizeMac(mac)).changes);
  }
}
