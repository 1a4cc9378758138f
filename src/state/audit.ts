/**
 * The audit log: who changed what, and when. Admin actions through the API
 * or the CLI (tasks, hosts, images, accounts) and logins, good and wrong, write a row; nothing
 * here is ever updated or deleted.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

export interface AuditEntry {
  id: number;
  /** Milliseconds since the epoch. */
  time: number;
  /** Who: `api admin (10.0.0.5)`, `api user alice (10.0.0.5)`, `cli root`, `host 52:54:… (10.0.0.7)`, `drill`. */
  actor: string;
  /**
   * What: task-create, task-cancel, host-add, host-edit, host-remove, image-publish, image-remove,
   * login, login-failed, login-refused (a role that may not), session-bound (a boot session first
   * used from another address than its login's), user-add, user-remove, user-password, user-role.
   */
  action: string;
  /** The host it concerns, if any (aa:bb:cc:dd:ee:ff). */
  mac: string | null;
  /** The image it concerns, if any. */
  image: string | null;
  detail: string | null;
}

export type AuditRecord = Pick<AuditEntry, 'actor' | 'action'> & Partial<Pick<AuditEntry, 'mac' | 'image' | 'detail'>>;

export interface AuditFilter {
  mac?: string;
  image?: string;
  /** Only entries at or after this time (ms). */
  since?: number;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

export class AuditLog {
  readonly #insert: StatementSync;
  readonly #list: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare('INSERT INTO audit (time, actor, action, mac, image, detail) VALUES (?, ?, ?, ?, ?, ?)');
    // One statement for every filter: an absent one is NULL and matches all.
    this.#list = db.prepare(
      `SELECT id, time, actor, action, mac, image, detail FROM audit
       WHERE (?1 IS NULL OR mac = ?1) AND (?2 IS NULL OR image = ?2) AND time >= ?3
       ORDER BY id DESC LIMIT ?4`,
    );
  }

  record(r: AuditRecord, now = Date.now()): void {
    this.#insert.run(now, r.actor, r.action, r.mac ?? null, r.image ?? null, r.detail ?? null);
  }

  /** Newest first. */
  list(f: AuditFilter = {}): AuditEntry[] {
    return this.#list.all(f.mac ?? null, f.image ?? null, f.since ?? 0, f.limit ?? 100) as unknown as AuditEntry[];
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A `--since` value → ms since the epoch: a duration back from now (`90m`,
 * `12h`, `7d`) or a date (`2026-12-01`, `2026-12-01T08:00:00Z`); undefined
 * when it is neither.
 */
export function parseSince(v: string, now = Date.now()): number | undefined {
  const d = /^(\d+)([smhdw])$/.exec(v.trim());
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim())) return undefined;
  const t = Date.parse(v.trim());
  return Number.isNaN(t) ? undefined : t;
}
