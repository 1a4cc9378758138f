/**
 * The embedded state database (node:sqlite): hosts, DHCP leases, settings,
 * one-shot tasks, boot sessions, history, the audit log and local accounts, one class each
 * beside this file. One file, WAL mode, so a `netrestore hosts …` command
 * can read and write it while `serve` runs.
 *
 * MIGRATIONS only grow: a database at user_version N runs the entries from N on.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { NetrestoreError } from '../shared/errors.ts';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE hosts (
     mac TEXT PRIMARY KEY,
     name TEXT,
     notes TEXT,
     ignore INTEGER NOT NULL DEFAULT 0,
     last_seen INTEGER
   );
   CREATE TABLE leases (
     ip TEXT PRIMARY KEY,
     mac TEXT NOT NULL,
     state TEXT NOT NULL,
     expires INTEGER NOT NULL,
     hostname TEXT
   );`,
  `CREATE TABLE settings (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );`,
  `CREATE TABLE tasks (
     id INTEGER PRIMARY KEY,
     mac TEXT NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('restore', 'capture')),
     image TEXT NOT NULL,
     disk TEXT,
     state TEXT NOT NULL CHECK (state IN ('pending', 'started', 'done', 'failed', 'cancelled')),
     error TEXT,
     created INTEGER NOT NULL,
     updated INTEGER NOT NULL
   );
   CREATE INDEX tasks_mac ON tasks (mac, state);
   CREATE TABLE sessions (
     token_sha256 TEXT PRIMARY KEY,
     mac TEXT NOT NULL,
     mode TEXT NOT NULL,
     image TEXT,
     task INTEGER,
     expires INTEGER NOT NULL
   );
   CREATE TABLE history (
     id INTEGER PRIMARY KEY,
     mac TEXT NOT NULL,
     kind TEXT NOT NULL,
     image TEXT NOT NULL,
     started INTEGER NOT NULL,
     ended INTEGER,
     bytes INTEGER,
     result TEXT NOT NULL,
     error TEXT
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     detail TEXT
   );`,
  `ALTER TABLE hosts ADD COLUMN menu_timeout INTEGER;`,
  // The audit log filtered by host and image (netrestore audit, GET /api/audit).
  `ALTER TABLE audit ADD COLUMN mac TEXT;
   ALTER TABLE audit ADD COLUMN image TEXT;
   CREATE INDEX audit_mac ON audit (mac, id);
   CREATE INDEX audit_image ON audit (image, id);`,
  // Least privilege: sessions bound to an address, idle and hard deadlines, one publish;
  // local accounts. Sessions are short-lived: the old ones are simply dropped.
  `DROP TABLE sessions;
   CREATE TABLE sessions (
     token_sha256 TEXT PRIMARY KEY,
     mac TEXT NOT NULL,
     mode TEXT NOT NULL,
     image TEXT,
     task INTEGER,
     user TEXT,
     issued_to TEXT,
     bound_to TEXT,
     published TEXT,
     expires INTEGER NOT NULL,
     ends INTEGER NOT NULL
   );
   CREATE TABLE users (
     name TEXT PRIMARY KEY,
     role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
     password TEXT NOT NULL,
     created INTEGER NOT NULL,
     updated INTEGER NOT NULL
   );`,
  // A host's own chain for UEFI x64 PXE: 'shim' or 'ipxe'; NULL: the server's (--uefi-boot).
  `ALTER TABLE hosts ADD COLUMN uefi_boot TEXT;`,
];

export function openState(path: string): DatabaseSync {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    // WAL + synchronous=NORMAL: no fsync per DHCP packet; a crash of the service
    // loses nothing, a power cut at most the last moments of lease changes.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.exec('BEGIN');
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    }
    return db;
  } catch (err) {
    throw new NetrestoreError('STATE_DB', `cannot open the state database ${path}: ${(err as Error).message}; check --state and its directory's permissions`, { cause: err });
  }
}
