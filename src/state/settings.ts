/**
 * Server settings kept in the state database. The admin token is stored as a
 * SHA-256 only: the database alone does not let anyone act as the admin.
 * A token generated on first start is written, in clear, to a file only its
 * owner may read (`tokenFile`), never to the log.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, openSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { NetrestoreError } from '../shared/errors.ts';
import { sha256 } from '../shared/format.ts';

export interface AdminToken {
  check(presented: string | undefined): boolean;
  /** The file the token was written to, only when it was generated right now. */
  generatedFile: string | undefined;
  /** The token in clear when this process knows it (given, or generated now): for the logger to keep out of every line. */
  clear: string | undefined;
}

/** Write `secret` to `file`, readable by its owner only (0600, also when the file was there before). */
export function writeSecretFile(file: string, secret: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    chmodSync(file, 0o600);
    writeSync(fd, secret + '\n');
  } catch (err) {
    throw new NetrestoreError('STATE_DB', `cannot write the admin token to ${file}: ${(err as Error).message}; make its folder writable, or set your own with --admin-token`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The admin token: the one given, else the stored one, else a new one (written to `tokenFile` before it counts). */
export function adminToken(db: DatabaseSync, given: string | undefined, tokenFile: string): AdminToken {
  const get = db.prepare('SELECT value FROM settings WHERE key = ?');
  const set = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  let generated: string | undefined;
  if (given) set.run('admin_token_sha256', sha256(given));
  else if (!get.get('admin_token_sha256')) {
    generated = randomBytes(24).toString('base64url');
    writeSecretFile(tokenFile, generated);
    set.run('admin_token_sha256', sha256(generated));
  }
  const stored = Buffer.from((get.get('admin_token_sha256') as { value: string }).value, 'hex');
  return {
    generatedFile: generated === undefined ? undefined : tokenFile,
    clear: given ?? generated,
    check: (presented) => presented !== undefined && presented.length > 0 && timingSafeEqual(Buffer.from(sha256(presented), 'hex'), stored),
  };
}

/**
 * Where a generated admin token is kept: beside the state database, named
 * after it (netrestore.db → netrestore.admin-token), so two databases in one
 * folder keep two tokens.
 */
export const adminTokenFile = (stateFile: string): string => join(dirname(stateFile), `${basename(stateFile).replace(/\.db$/, '')}.admin-token`);
