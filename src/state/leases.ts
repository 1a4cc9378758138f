/**
 * DHCP leases kept across restarts: the in-memory table is loaded once and
 * every binding, release and decline is written through. Offers are held in
 * memory only: they last a minute, and a restart may simply forget them.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { Leases, type Lease, type LeaseState } from '../dhcp/leases.ts';

export class LeaseStore {
  readonly table = new Leases();
  readonly #put: StatementSync;

  constructor(db: DatabaseSync) {
    const rows = db.prepare('SELECT ip, mac, state, expires, hostname FROM leases').all() as {
      ip: string;
      mac: string;
      state: LeaseState;
      expires: number;
      hostname: string | null;
    }[];
    for (const r of rows) this.table.put({ ip: r.ip, mac: r.mac, state: r.state, expires: r.expires, hostname: r.hostname ?? undefined });
    this.#put = db.prepare(
      `INSERT INTO leases (ip, mac, state, expires, hostname) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, state = excluded.state, expires = excluded.expires, hostname = excluded.hostname`,
    );
  }

  put(lease: Lease): void {
    this.table.put(lease);
    if (lease.state !== 'offered') this.#put.run(lease.ip, lease.mac, lease.state, lease.expires, lease.hostname ?? null);
  }
}
