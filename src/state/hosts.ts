/** Hosts the admin knows: name, notes, `ignore` (no PXE answer), last seen. */
import type { DatabaseSync } from 'node:sqlite';

export interface Host {
  mac: string;
  name: string | null;
  notes: string | null;
  ignore: boolean;
  lastSeen: number | null;
}

export function normalizeMac(mac: string): string {
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12) throw new RangeError(`not a MAC address: ${mac}`);
  return hex.match(/../g)!.join(':');
}

export class HostStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  get(mac: string): Host | undefined {
    const row = this.#db.prepare('SELECT mac, name, notes, ignore, last_seen FROM hosts WHERE mac = ?').get(normalizeMac(mac)) as
      | { mac: string; name: string | null; notes: string | null; ignore: number; last_seen: number | null }
      | undefined;
    return row && { mac: row.mac, name: row.name, notes: row.notes, ignore: row.ignore === 1, lastSeen: row.last_seen };
  }

  upsert(h: { mac: string; name?: string | null; notes?: string | null; ignore?: boolean }): void {
    this.#db
      .prepare(
        `INSERT INTO hosts (mac, name, notes, ignore) VALUES (?, ?, ?, ?)
         ON CONFLICT(mac) DO UPDATE SET name = coalesce(excluded.name, name), notes = coalesce(excluded.notes, notes), ignore = excluded.ignore`,
      )
      .run(normalizeMac(h.mac), h.name ?? null, h.notes ?? null, h.ignore ? 1 : 0);
  }

  seen(mac: string, when: number): void {
    this.#db
      .prepare('INSERT INTO hosts (mac, last_seen) VALUES (?, ?) ON CONFLICT(mac) DO UPDATE SET last_seen = excluded.last_seen')
      .run(normalizeMac(mac), when);
  }
}
