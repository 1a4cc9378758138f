/**
 * Server settings kept in the state database. The admin token is stored as a
 * SHA-256 only: the database alone does not let anyone act as the admin.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { sha256 } from '../shared/format.ts';

export interface AdminToken {
  check(presented: string | undefined): boolean;
  /** The token in clear, only when it was generated right now (print it once). */
  generated: string | undefined;
}

/** The admin token: the one given, else the stored one, else a new one. */
export function adminToken(db: DatabaseSync, given: string | undefined): AdminToken {
  const get = db.prepare('SELECT value FROM settings WHERE key = ?');
  const set = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  let generated: string | undefined;
  if (given) set.run('admin_token_sha256', sha256(given));
  else if (!get.get('admin_token_sha256')) {
    generated = randomBytes(24).toString('base64url');
    set.run('admin_token_sha256', sha256(generated));
  }
  const stored = Buffer.from((get.get('admin_token_sha256') as { value: string }).value, 'hex');
  return {
    generated,
    check: (presented) => presented !== undefined && presented.length > 0 && timingSafeEqual(Buffer.from(sha256(presented), 'hex'), stored),
  };
}
