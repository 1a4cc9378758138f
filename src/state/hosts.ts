/** Hosts the admin knows: name, notes, `ignore` (no PXE answer), last seen. */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

export interface Host {
  mac: string;
  name: string | null;
  notes: string | null;
  ignore: boolean;
  lastSeen: number | null;
  /** Seconds this host's menu waits before the local disk; null: the configured default. */
  menuTimeout: number | null;
  /** The chain this host boots on UEFI x64 PXE; null or absent: the server's (--uefi-boot). */
  uefiBoot?: 'shim' | 'ipxe' | null;
}

/** A MAC in the spellings iPXE and admins use (aa:bb…, aa-bb…, aabb.ccdd…) → aa:bb:cc:dd:ee:ff, or undefined. */
export function parseMac(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const hex = v.toLowerCase().replace(/[^0-9a-f]/g, '');
  return hex.length === 12 && /^[0-9a-f:.-]+$/i.test(v) ? hex.match(/../g)!.join(':') : undefined;
}

export function normalizeMac(mac: string): string {
  const m = parseMac(mac);
  if (!m) throw new RangeError(`not a MAC address: ${mac}`);
  return m;
}

type Row = { mac: string; name: string | null; notes: string | null; ignore: number; last_seen: number | null; menu_timeout: number | null; uefi_boot: 'shim' | 'ipxe' | null };

const toHost = (row: Row): Host => ({ mac: row.mac, name: row.name, notes: row.notes, ignore: row.ignore === 1, lastSeen: row.last_seen, menuTimeout: row.menu_timeout, uefiBoot: row.uefi_boot });

export class HostStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #remove: StatementSync;
  readonly #upsert: StatementSync;
  readonly #seen: StatementSync;
  /** Last-seen times waiting to be written in one transaction (see flushSeen). */
  readonly #pendingSeen = new Map<string, number>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare('SELECT mac, name, notes, ignore, last_seen, menu_timeout, uefi_boot FROM hosts WHERE mac = ?');
    this.#list = db.prepare('SELECT mac, name, notes, ignore, last_seen, menu_timeout, uefi_boot FROM hosts ORDER BY mac');
    this.#remove = db.prepare('DELETE FROM hosts WHERE mac = ?');
    this.#upsert = db.prepare(
      // Only what is given changes: adding a name to an ignored host keeps it ignored.
      // uefi_boot: 'default' clears it back to the server's rule.
      `INSERT INTO hosts (mac, name, notes, ignore, menu_timeout, uefi_boot) VALUES (?1, ?2, ?3, coalesce(?4, 0), ?5, nullif(?6, 'default'))
       ON CONFLICT(mac) DO UPDATE SET name = coalesce(?2, name), notes = coalesce(?3, notes), ignore = coalesce(?4, ignore),
         menu_timeout = coalesce(?5, menu_timeout), uefi_boot = CASE WHEN ?6 IS NULL THEN uefi_boot ELSE nullif(?6, 'default') END`,
    );
    this.#seen = db.prepare('INSERT INTO hosts (mac, last_seen) VALUES (?, ?) ON CONFLICT(mac) DO UPDATE SET last_seen = excluded.last_seen');
  }

  get(mac: string): Host | undefined {
    const row = this.#get.get(normalizeMac(mac)) as Row | undefined;
    return row && toHost(row);
  }

  list(): Host[] {
    return (this.#list.all() as Row[]).map(toHost);
  }

  /** Forget a host (its tasks and history stay); false when it was not known. */
  remove(mac: string): boolean {
    const m = normalizeMac(mac);
    this.#pendingSeen.delete(m);
    return Number(this.#remove.run(m).changes) > 0;
  }

  /** `uefiBoot`: 'default' goes back to the server's rule; undefined leaves it as it is. */
  upsert(h: { mac: string; name?: string | null; notes?: string | null; ignore?: boolean; menuTimeout?: number | null; uefiBoot?: 'shim' | 'ipxe' | 'default' | null }): void {
    this.#upsert.run(normalizeMac(h.mac), h.name ?? null, h.notes ?? null, h.ignore === undefined ? null : h.ignore ? 1 : 0, h.menuTimeout ?? null, h.uefiBoot ?? null);
  }

  /** Note that a host was seen; written by flushSeen, so a booting room costs one write per batch. */
  seen(mac: string, when: number): void {
    this.#pendingSeen.set(normalizeMac(mac), when);
  }

  flushSeen(): void {
    if (this.#pendingSeen.size === 0) return;
    this.#db.exec('BEGIN');
    try {
      for (const [mac, when] of this.#pendingSeen) this.#seen.run(mac, when);
      this.#db.exec('COMMIT');
      this.#pendingSeen.clear();
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }
}
