/** Restores and captures that ended (done or failed), for the admin's record. */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

export interface HistoryEntry {
  id: number;
  mac: string;
  kind: string;
  image: string;
  started: number;
  ended: number | null;
  bytes: number | null;
  result: string;
  error: string | null;
}

export class HistoryLog {
  readonly #insert: StatementSync;
  readonly #list: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare('INSERT INTO history (mac, kind, image, started, ended, bytes, result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#list = db.prepare('SELECT id, mac, kind, image, started, ended, bytes, result, error FROM history ORDER BY id DESC LIMIT ?');
  }

  record(h: Omit<HistoryEntry, 'id'>): void {
    this.#insert.run(h.mac, h.kind, h.image, h.started, h.ended, h.bytes, h.result, h.error);
  }

  /** Newest first. */
  list(limit = 200): HistoryEntry[] {
    return this.#list.all(limit) as unknown as HistoryEntry[];
  }
}
