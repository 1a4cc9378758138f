/**
 * `netrestore backup FILE` and `netrestore backup --restore FILE`: the boot
 * server's own state in one tar file, for a new server or an upgrade gone
 * wrong. In it: the state database as one consistent copy (SQLite's VACUUM
 * INTO, taken while serve runs), the configuration file, and the secrets
 * serve keeps beside the database (the admin token file, the certificate and
 * key of `--tls auto`). Not the image store: it has its own
 * export (`images export`). A manifest first, with each file's SHA-256,
 * checked before anything is written on restore.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { autoTlsFiles } from '../http/tls.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { adminTokenFile } from '../state/settings.ts';

export const BACKUP_FORMAT = 'netrestore-backup';
const MANIFEST = 'netrestore-backup.json';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: 1;
  created: string;
  netrestoreVersion: string;
  /** Where they were on the server backed up. */
  from: { state: string; config: string | null };
  /** user_version of the state database: a newer netrestore migrates it at start. */
  schemaVersion: number;
  files: { name: string; bytes: number; sha256: string }[];
}

export interface BackupPaths {
  /** The state database (serve's --state). */
  state: string;
  /** The configuration file in use, if any. */
  config: string | undefined;
}

/** The files serve makes beside the state database: the admin token, and the certificate and key of `--tls auto`. */
function besideState(state: string): string[] {
  const { certFile, keyFile } = autoTlsFiles(state);
  return [adminTokenFile(state), certFile, keyFile];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function writeBackup(file: string, p: BackupPaths, version: string): Promise<BackupManifest> {
  if (!existsSync(p.state)) throw new NetrestoreError('BACKUP', `there is no state database at ${p.state}: give the one serve uses with --state or --config`);
  const files: { name: string; data: Buffer }[] = [];
  // VACUUM INTO: one consistent copy whatever serve writes meanwhile (WAL readers do not block it).
  const copy = `${file}.state-${process.pid}.tmp`;
  await rm(copy, { force: true });
  let schemaVersion: number;
  const db = new DatabaseSync(p.state, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    schemaVersion = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    db.prepare('VACUUM INTO ?').run(copy);
  } catch (err) {
    throw new NetrestoreError('BACKUP', `cannot copy the state database ${p.state}: ${(err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
  files.push({ name: 'state.db', data: await readFile(copy) });
  await rm(copy, { force: true });
  if (p.config) files.push({ name: 'config.json', data: await readFile(p.config) });
  for (const f of besideState(p.state)) if (existsSync(f)) files.push({ name: `beside-state/${basename(f)}`, data: await readFile(f) });

  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: 1,
    created: new Date().toISOString(),
    netrestoreVersion: version,
    from: { state: p.state, config: p.config ?? null },
    schemaVersion,
    files: files.map((f) => ({ name: f.name, bytes: f.data.length, sha256: sha256(f.data) })),
  };
  const pack = tar.pack();
  // Secrets inside (the admin token's hash, TLS keys): readable by the owner only.
  const tmp = `${file}.tmp`;
  const out = pipeline(pack, createWriteStream(tmp, { mode: 0o600 }));
  pack.entry({ name: MANIFEST, mode: 0o600 }, JSON.stringify(manifest, null, 2) + '\n');
  for (const f of files) pack.entry({ name: f.name, mode: 0o600 }, f.data);
  pack.finalize();
  try {
    await out;
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new NetrestoreError('BACKUP', `cannot write the backup ${file}: ${(err as Error).message}`, { cause: err });
  }
  return manifest;
}

/** The manifest and files of a backup, every checksum checked. */
export async function readBackup(file: string): Promise<{ manifest: BackupManifest; files: Map<string, Buffer> }> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      files.set(entry.header.name, Buffer.concat(parts));
    }
  })();
  try {
    await pipeline(createReadStream(file), extract);
    await done;
  } catch (err) {
    throw new NetrestoreError('BACKUP', `${file} is not a netrestore backup (not a readable tar file: ${(err as Error).message})`, { cause: err });
  }
  const raw = files.get(MANIFEST);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(raw?.toString() ?? '') as BackupManifest;
  } catch {
    throw new NetrestoreError('BACKUP', `${file} is not a netrestore backup: it has no ${MANIFEST}`);
  }
  if (manifest.format !== BACKUP_FORMAT || manifest.version !== 1) throw new NetrestoreError('BACKUP', `${file} is not a netrestore backup of a format this version reads (${manifest.format} ${manifest.version})`);
  for (const f of manifest.files) {
    const data = files.get(f.name);
    if (!data || data.length !== f.bytes || sha256(data) !== f.sha256) throw new NetrestoreError('BACKUP', `the backup ${file} is damaged: ${f.name} is missing or changed; use another copy`);
  }
  return { manifest, files };
}

export interface RestoreOptions extends BackupPaths {
  /** Replace a state database that is already there (it is kept as *.before-restore). */
  force: boolean;
}

export interface RestoreReport {
  manifest: BackupManifest;
  written: string[];
  /** Files moved aside, each to NAME.before-restore. */
  movedAside: string[];
  /** What the backup holds but was not written, and why. */
  skipped: string[];
}

export async function restoreBackup(file: string, o: RestoreOptions): Promise<RestoreReport> {
  const { manifest, files } = await readBackup(file);
  if (existsSync(`${o.state}-wal`) && statSync(`${o.state}-wal`).size > 0) {
    throw new NetrestoreError('BACKUP', `the state database ${o.state} is in use (it has a write-ahead log): stop the service first (systemctl stop netrestore)`);
  }
  if (existsSync(o.state) && !o.force) throw new NetrestoreError('BACKUP', `${o.state} exists: this server has state of its own; pass --force to replace it (it is kept as ${basename(o.state)}.before-restore)`);
  const written: string[] = [];
  const movedAside: string[] = [];
  const aside = async (path: string) => {
    if (!existsSync(path)) return;
    await rename(path, `${path}.before-restore`);
    movedAside.push(path);
  };

  // The database: written beside, checked by SQLite itself, then renamed over.
  await mkdir(dirname(o.state), { recursive: true });
  const tmp = `${o.state}.restore-tmp`;
  await writeFile(tmp, files.get('state.db')!, { mode: 0o600 });
  const db = new DatabaseSync(tmp, { readOnly: true });
  try {
    const check = (db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check;
    if (check !== 'ok') throw new NetrestoreError('BACKUP', `the state database in ${file} fails SQLite's integrity check: ${check}`);
  } finally {
    db.close();
  }
  await aside(o.state);
  for (const s of ['-wal', '-shm']) await rm(`${o.state}${s}`, { force: true });
  await rename(tmp, o.state);
  written.push(o.state);

  const skipped: string[] = [];
  const config = files.get('config.json');
  if (config && !o.config) skipped.push('config.json: no configuration file to write it to (give --config FILE)');
  if (config && o.config) {
    await aside(o.config);
    await mkdir(dirname(o.config), { recursive: true });
    await writeFile(o.config, config, { mode: 0o640 });
    written.push(o.config);
  }
  // Named after the new database, as serve looks for them (state/settings.ts, http/tls.ts).
  const names = new Map(besideState(manifest.from.state).map((f, i) => [basename(f), basename(besideState(o.state)[i]!)]));
  for (const f of manifest.files.filter((x) => x.name.startsWith('beside-state/'))) {
    const to = join(dirname(o.state), names.get(basename(f.name)) ?? basename(f.name));
    await mkdir(dirname(to), { recursive: true });
    await aside(to);
    await writeFile(to, files.get(f.name)!, { mode: 0o600 });
    written.push(to);
  }
  return { manifest, written, movedAside, skipped };
}
