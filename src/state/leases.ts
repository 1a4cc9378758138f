/** DHCP leases kept across restarts: the in-memory table is loaded once, every change is written through. */
import type { DatabaseSync } from 'node:sqlite';
import type { Lease, LeaseState } from '../dhcp/leases.ts';

export class LeaseStore {
  readonly #db: DatabaseSync;
  readonly table = new Map<string, Lease>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    const rows = db.prepare('SELECT ip, mac, state, expires, hostname FROM leases').all() as {
      ip: string;
      mac: string;
      state: LeaseState;
      expires: number;
      hostname: string | null;
    }[];
    for (const r of rows) this.table.set(r.ip, { ip: r.ip, mac: r.mac, state: r.state, expires: r.expires, hostname: r.hostname ?? undefined });
  }

  put(lease: Lease): void {
    this.table.set(lease.ip, lease);
    this.#db
      .prepare(
        `INSERT INTO leases (ip, mac, state, expires, hostname) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, state = excluded.state, expires = excluded.expires, hostname = excluded.hostname`,
      )
      .run(lease.ip, lease.mac, lease.state, lease.expires, lease.hostname ?? null);
  }
}
