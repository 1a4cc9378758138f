/**
 * `netrestore backup` and `backup --restore`: the state of one boot server
 * (hosts, tasks, the admin token), its configuration and its
 * TLS files onto a new one, through the command line; taken while the
 * database is open with writes in its WAL; a damaged file refused.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { openState } from '../../src/state/db.ts';
import { openStores } from '../../src/state/stores.ts';
import { autoTlsFiles } from '../../src/http/tls.ts';
import { adminToken, adminTokenFile } from '../../src/state/settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-svc-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oldServer = join(dir, 'old');
const newServer = join(dir, 'new');
const oldState = join(oldServer, 'var/netrestore.db');
const oldConfig = join(oldServer, 'etc/config.json');
const newState = join(newServer, 'var/netrestore.db');
const newConfig = join(newServer, 'etc/config.json');
const file = join(dir, 'server.backup');

describe('backup of the server itself', () => {
  it('round trip: hosts, tasks, the admin token, configuration and TLS files arrive on a new server; the old db was open with unflushed writes', async () => {
    mkdirSync(join(oldServer, 'etc'), { recursive: true });
    writeFileSync(oldConfig, JSON.stringify({ state: oldState, menuTitle: 'Room 4' }));
    const db = openState(oldState);
    const s = openStores(db);
    s.hosts.upsert({ mac: '52:54:00:12:34:56', name: 'fs01' });
    s.tasks.create('52:54:00:12:34:56', 'restore', 'fs01-2026-11-24', '/dev/sda');
    adminToken(db, undefined, adminTokenFile(oldState)); // generated: its file beside the state, as on a first start
    const token = readFileSync(adminTokenFile(oldState), 'utf8').trim();
    writeFileSync(autoTlsFiles(oldState).keyFile, 'PRIVATE KEY');
    writeFileSync(autoTlsFiles(oldState).certFile, 'CERTIFICATE');
    // Still open (as under a running serve): the rows are in the WAL, not yet in the main file.
    expect(readFileSync(`${oldState}-wal`).length).toBeGreaterThan(0);

    const b = await execa(BIN, ['backup', file, '--config', oldConfig, '--json']);
    const manifest = JSON.parse(b.stdout) as { files: { name: string }[] };
    expect(manifest.files.map((f) => f.name)).toEqual(['state.db', 'config.json', `beside-state/${basename(adminTokenFile(oldState))}`, 'beside-state/netrestore-tls.crt', 'beside-state/netrestore-tls.key']);
    db.close();

    // The new server: installed, its own default configuration, no state yet.
    mkdirSync(join(newServer, 'etc'), { recursive: true });
    writeFileSync(newConfig, JSON.stringify({ state: newState }));
    const r = await execa(BIN, ['backup', file, '--restore', '--config', newConfig, '--state', newState]);
    expect(r.stdout).toMatch(/kept the old .*config\.json as .*before-restore/);
    expect(JSON.parse(readFileSync(newConfig, 'utf8'))).toEqual({ state: oldState, menuTitle: 'Room 4' });
    expect(readFileSync(autoTlsFiles(newState).keyFile, 'utf8')).toBe('PRIVATE KEY');
    expect(readFileSync(adminTokenFile(newState), 'utf8').trim()).toBe(token);

    const restored = openState(newState);
    const t = openStores(restored);
    expect(t.hosts.get('52:54:00:12:34:56')?.name).toBe('fs01');
    expect(t.tasks.current('52:54:00:12:34:56')?.image).toBe('fs01-2026-11-24');
    expect(adminToken(restored, undefined, adminTokenFile(newState)).check(token)).toBe(true);
    restored.close();
    const hosts = await execa(BIN, ['hosts', 'list', '--state', newState]);
    expect(hosts.stdout).toContain('fs01');
  });

  it('refuses to replace state already there without --force, and keeps it aside with --force', async () => {
    const again = await execa(BIN, ['backup', file, '--restore', '--state', newState], { reject: false });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/exists: this server has state of its own; pass --force/);
    const forced = await execa(BIN, ['backup', file, '--restore', '--state', newState, '--force']);
    expect(forced.stdout).toMatch(/not restored: config\.json/);
    expect(existsSync(`${newState}.before-restore`)).toBe(true);
  });

  it('refuses a damaged backup before writing anything', async () => {
    const bytes = readFileSync(file);
    // Flip a byte inside the first file's data (after the manifest's header and body).
    const at = bytes.indexOf(Buffer.from('SQLite format 3'));
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] = bytes[at + 100]! ^ 0xff;
    const damaged = join(dir, 'damaged.backup');
    writeFileSync(damaged, bytes);
    const target = join(dir, 'third/netrestore.db');
    const r = await execa(BIN, ['backup', damaged, '--restore', '--state', target], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/damaged: state\.db is missing or changed/);
    expect(existsSync(target)).toBe(false);
  });
});
