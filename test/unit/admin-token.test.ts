/** The admin token generated on first start goes to a root-only file, never anywhere else. */
import { chmodSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openState } from '../../src/state/db.ts';
import { adminToken, adminTokenFile } from '../../src/state/settings.ts';

const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'nr-admin-token-'));
  const state = join(dir, 'netrestore.db');
  return { dir, state, file: adminTokenFile(state), db: openState(state) };
};

describe('admin token', () => {
  it('is named after the state database, beside it', () => {
    expect(adminTokenFile('/var/lib/netrestore/netrestore.db')).toBe('/var/lib/netrestore/netrestore.admin-token');
    expect(adminTokenFile('state.sqlite')).toBe('state.sqlite.admin-token');
  });
  it('generated once: written 0600, checked, and not again on the next start', () => {
    const { db, file } = fresh();
    const first = adminToken(db, undefined, file);
    expect(first.generatedFile).toBe(file);
    const token = readFileSync(file, 'utf8').trim();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.clear).toBe(token);
    expect(first.check(token)).toBe(true);
    expect(first.check(token + 'x')).toBe(false);
    const second = adminToken(db, undefined, file);
    expect(second.generatedFile).toBeUndefined();
    expect(second.clear).toBeUndefined();
    expect(second.check(token)).toBe(true);
  });
  it('a file left readable by others is made 0600 before the token goes in', () => {
    const { db, file } = fresh();
    writeFileSync(file, 'old');
    chmodSync(file, 0o644);
    adminToken(db, undefined, file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain('old');
  });
  it('does not follow a symlink planted where the file goes, and then stores no token nobody knows', () => {
    const { db, file, dir } = fresh();
    symlinkSync(join(dir, 'elsewhere'), file);
    expect(() => adminToken(db, undefined, file)).toThrow(expect.objectContaining({ code: 'STATE_DB' }));
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
    expect(() => adminToken(db, 'now-a-given-token', file)).not.toThrow();
  });
  it('a given token (--admin-token) replaces the stored one and writes no file', () => {
    const { db, file } = fresh();
    const t = adminToken(db, 'my-own-admin-token', file);
    expect(existsSync(file)).toBe(false);
    expect(t.generatedFile).toBeUndefined();
    expect(t.clear).toBe('my-own-admin-token');
    expect(t.check('my-own-admin-token')).toBe(true);
    expect(adminToken(db, undefined, file).check('my-own-admin-token')).toBe(true);
  });
});
