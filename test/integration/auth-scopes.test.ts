/**
 * Least privilege against the running service (the real CLI, curl, the real
 * agent client): accounts made with `netrestore users`, menu logins by role,
 * what a restore and a capture session token may and may not do, a session
 * bound to the address that first used it and ended with its task, accounts
 * on the admin API over HTTP Basic, and the login throttle keyed by source
 * address with every failure in the audit log and no password in it.
 */
import { execa } from 'execa';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import type { AuditEntry } from '../../src/state/audit.ts';

const PORT = 18391;
const B = `http://127.0.0.1:${PORT}`;
const ADMIN = 'auth-scopes-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'nr-auth-scopes-'));
const state = join(dir, 'state.db');
const store = join(dir, 'store');
const PASSWORDS = { otto: 'otto-secret-pw-1', vera: 'vera-secret-pw-2', ada: 'ada-secret-pw-3' } as const;
let served: Served;
const nr = (a: string[], o: { input?: string; env?: Record<string, string> } = {}) => execa(BIN, a, { reject: false, all: true, ...o });

/** curl from a chosen local address: { status, body }. */
async function curl(url: string, o: { from?: string; token?: string; basic?: string; method?: string; json?: unknown } = {}) {
  const args = ['-sS', '-w', '\n%{http_code}', '--interface', o.from ?? '127.0.0.1', '-X', o.method ?? 'GET'];
  if (o.token) args.push('-H', `Authorization: Bearer ${o.token}`);
  if (o.basic) args.push('-u', o.basic);
  if (o.json !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(o.json));
  const r = await execa('curl', [...args, url]);
  const lines = r.stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}
const login = (q: { mac: string; mode: string; image?: string; user: string; password: string }, from = '127.0.0.1') =>
  curl(`${B}/auth.ipxe?mac=${q.mac}&mode=${q.mode}&image=${q.image ?? '-'}&username=${encodeURIComponent(q.user)}&password=${encodeURIComponent(q.password)}`, { from }).then((r) => r.body);
const tokenOf = (script: string) => /netrestore\.token=(\S+)/.exec(script)?.[1];

beforeAll(async () => {
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  // Two images that share no chunk.
  for (const name of ['fs01', 'dc01']) {
    const disk = join(dir, `${name}.raw`);
    writeFileSync(disk, Buffer.alloc(0));
    await execa('truncate', ['-s', '8M', disk]);
    const fd = openSync(disk, 'r+');
    for (let off = 0; off < 8 * 1024 * 1024; off += 1024 * 1024) writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, off);
    closeSync(fd);
    const r = await nr(['publish', disk, '--name', name, '--images', store]);
    expect(r.exitCode, r.all).toBe(0);
  }
  for (const [name, role] of [['otto', 'operator'], ['vera', 'viewer'], ['ada', 'admin']] as const) {
    const r = await nr(['users', 'add', name, '--role', role, '--password-stdin', '--state', state], { input: `${PASSWORDS[name]}\n` });
    expect(r.exitCode, r.all).toBe(0);
  }
  served = await startServe(['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--boot-dir', join(dir, 'boot'), '--images', store, '--state', state, '--admin-token', ADMIN, '--log-level', 'debug']);
  await served.waitFor('http.listening');
}, 180_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('accounts at the boot menu', () => {
  it('lets an operator start a restore, refuses a viewer, and no longer takes the admin token', async () => {
    expect(await login({ mac: '52:54:00:91:00:01', mode: 'restore', image: 'fs01', user: 'vera', password: PASSWORDS.vera }, '127.0.0.21')).toContain('The account vera (viewer) may not start a restore');
    expect(await login({ mac: '52:54:00:91:00:01', mode: 'restore', image: 'fs01', user: 'admin', password: ADMIN }, '127.0.0.22')).toContain('Wrong user name or password');
    const ok = await login({ mac: '52:54:00:91:00:01', mode: 'restore', image: 'fs01', user: 'otto', password: PASSWORDS.otto }, '127.0.0.23');
    expect(tokenOf(ok)).toBeDefined();
    const audit = JSON.parse((await nr(['audit', '--json', '--state', state, '--host', '52:54:00:91:00:01'])).stdout) as AuditEntry[];
    expect(audit.map((e) => e.action).reverse()).toEqual(['login-refused', 'login-failed', 'login']);
    expect(audit[0]!.detail).toContain('user otto');
  });
});

describe('a restore session token', () => {
  let token: string;
  beforeAll(async () => {
    token = tokenOf(await login({ mac: '52:54:00:91:00:02', mode: 'restore', image: 'fs01', user: 'otto', password: PASSWORDS.otto }))!;
  });

  it('restores its image with the real agent', async () => {
    const r = await nr(['restore', '--server', B, '--token', token, '--image', 'fs01', '--target', join(dir, 'restored.raw'), '--json']);
    expect(JSON.parse(r.stdout).ok, r.all).toBe(true);
  });

  it('is refused another image, its chunks, upload, publish and the admin API', async () => {
    expect((await curl(`${B}/api/images/dc01`, { token })).status).toBe(403);
    const dc01 = JSON.parse((await curl(`${B}/api/images/dc01`, { token: ADMIN })).body) as { chunks: (string | null)[] };
    const foreign = dc01.chunks.find((h) => h)!;
    expect((await curl(`${B}/api/chunks/${foreign}`, { token: ADMIN })).status).toBe(200);
    expect((await curl(`${B}/api/chunks/${foreign}`, { token })).status).toBe(403);
    expect(JSON.parse((await curl(`${B}/api/images`, { token })).body).map((m: { name: string }) => m.name)).toEqual(['fs01']);
    const cap = await nr(['capture', '--server', B, '--source', join(dir, 'dc01.raw'), '--name', 'sneaky', '--json'], { env: { NETRESTORE_TOKEN: token } });
    expect(cap.exitCode).toBe(1);
    expect(cap.all).toMatch(/may not do this \(chunks\.write\)/);
    expect((await curl(`${B}/api/chunks/${foreign}`, { token, method: 'PUT' })).status).toBe(403);
    expect((await curl(`${B}/api/images`, { token, method: 'POST', json: dc01 })).status).toBe(403);
    expect((await curl(`${B}/api/hosts`, { token })).status).toBe(403);
    expect((await curl(`${B}/api/hosts/52:54:00:91:00:02/task`, { token, method: 'POST', json: { kind: 'restore', image: 'dc01' } })).status).toBe(403);
    expect((await curl(`${B}/api/images/dc01`, { token, method: 'DELETE' })).status).toBe(403);
    expect((await curl(`${B}/api/audit`, { token })).status).toBe(403);
    expect(JSON.parse((await nr(['images', 'list', '--images', store, '--json'])).stdout).map((m: { name: string }) => m.name).sort()).toEqual(['dc01', 'fs01']);
  });

  it('belongs to the address that used it first', async () => {
    const r = await curl(`${B}/api/images/fs01`, { token, from: '127.0.0.31' });
    expect(r.status).toBe(403);
    expect(r.body).toContain('belongs to the machine at 127.0.0.1, not to 127.0.0.31');
    expect((await curl(`${B}/api/images/fs01`, { token })).status).toBe(200);
  });

  it('ends with its task', async () => {
    const mac = '52:54:00:91:00:03';
    const id = /task (\d+)/.exec((await nr(['hosts', 'task', mac, 'restore', 'fs01', '--state', state])).stdout)![1]!;
    const t = tokenOf((await curl(`${B}/boot.ipxe?mac=${mac}`)).body)!;
    const r = await nr(['restore', '--server', B, '--token', t, '--image', 'fs01', '--target', join(dir, 'task.raw'), '--task', id, '--json']);
    expect(JSON.parse(r.stdout).ok, r.all).toBe(true);
    const after = await curl(`${B}/api/images/fs01`, { token: t });
    expect(after.status).toBe(401);
    expect(after.body).toContain(`its task ${id} has ended`);
  });
});

describe('a capture session token', () => {
  it('publishes the name it was given, once, and no other', async () => {
    const token = tokenOf(await login({ mac: '52:54:00:91:00:04', mode: 'capture', image: 'web01-new', user: 'otto', password: PASSWORDS.otto }))!;
    const capture = (name: string) => nr(['capture', '--server', B, '--source', join(dir, 'dc01.raw'), '--name', name, '--json'], { env: { NETRESTORE_TOKEN: token } });
    const wrong = await capture('web02-new');
    expect(wrong.exitCode).toBe(1);
    expect(wrong.all).toMatch(/may publish web01-new only, not web02-new/);
    const right = await capture('web01-new');
    expect(JSON.parse(right.stdout), right.all).toMatchObject({ ok: true, image: 'web01-new' });
    const again = await capture('web03-new');
    expect(again.exitCode).toBe(1);
    expect(again.all).toMatch(/published web01-new already/);
    expect((await curl(`${B}/api/images/web01-new`, { token })).status).toBe(403); // it reads nothing
    const names = JSON.parse((await nr(['images', 'list', '--images', store, '--json'])).stdout).map((m: { name: string }) => m.name).sort();
    expect(names).toEqual(['dc01', 'fs01', 'web01-new']);
  });
});

describe('accounts on the admin API', () => {
  it('gives each role what it may: viewers read, operators make tasks, admins delete', async () => {
    const otto = `otto:${PASSWORDS.otto}`;
    const vera = `vera:${PASSWORDS.vera}`;
    const ada = `ada:${PASSWORDS.ada}`;
    expect((await curl(`${B}/api/hosts`, { basic: vera })).status).toBe(200);
    expect((await curl(`${B}/api/hosts/52:54:00:91:00:05/task`, { basic: vera, method: 'POST', json: { kind: 'restore', image: 'fs01' } })).status).toBe(403);
    expect((await curl(`${B}/api/chunks/${'0'.repeat(64)}`, { basic: vera })).status).toBe(403);
    expect((await curl(`${B}/api/hosts/52:54:00:91:00:05/task`, { basic: otto, method: 'POST', json: { kind: 'restore', image: 'fs01' } })).status).toBe(201);
    expect((await curl(`${B}/api/images/web01-new`, { basic: otto, method: 'DELETE' })).status).toBe(403);
    expect((await curl(`${B}/api/hosts/52:54:00:91:00:05`, { basic: otto, method: 'DELETE' })).status).toBe(403);
    expect((await curl(`${B}/api/images/web01-new`, { basic: ada, method: 'DELETE' })).status).toBe(200);
    expect((await curl(`${B}/api/hosts/52:54:00:91:00:05`, { basic: ada, method: 'DELETE' })).status).toBe(200);
    const audit = JSON.parse((await nr(['audit', '--json', '--state', state, '--limit', '20'])).stdout) as AuditEntry[];
    expect(audit.find((e) => e.action === 'task-create' && e.mac === '52:54:00:91:00:05')?.actor).toBe('api user otto (127.0.0.1)');
    expect(audit.find((e) => e.action === 'image-remove')?.actor).toBe('api user ada (127.0.0.1)');
  });

  it('takes a changed password at once, also when `netrestore users passwd` changed it', async () => {
    expect((await curl(`${B}/api/history`, { basic: `vera:${PASSWORDS.vera}`, from: '127.0.0.41' })).status).toBe(200);
    const r = await nr(['users', 'passwd', 'vera', '--password-stdin', '--state', state], { input: 'vera-new-password\n' });
    expect(r.exitCode, r.all).toBe(0);
    expect((await curl(`${B}/api/history`, { basic: `vera:${PASSWORDS.vera}`, from: '127.0.0.42' })).status).toBe(401);
    expect((await curl(`${B}/api/history`, { basic: 'vera:vera-new-password', from: '127.0.0.43' })).status).toBe(200);
    const audit = JSON.parse((await nr(['audit', '--json', '--state', state, '--limit', '50'])).stdout) as AuditEntry[];
    expect(audit.find((e) => e.actor === 'api (127.0.0.42)')).toMatchObject({ action: 'login-failed', detail: expect.stringMatching(/user vera: wrong password/) });
    expect(audit.find((e) => e.action === 'user-password')?.detail).toBe('vera');
  });
});

describe('the login throttle', () => {
  it('holds back the source address, whatever MAC the client writes, at the menu and the API alike', async () => {
    const from = '127.0.0.51';
    const wrong = (mac: string) => login({ mac, mode: 'shell', user: 'otto', password: 'guess-1' }, from);
    expect(await wrong('52:54:00:91:00:06')).toContain('Wrong user name or password');
    // Another MAC, the same address: still held back.
    expect(await wrong('52:54:00:91:00:07')).toMatch(/Too many wrong logins from this machine: wait \d+ s/);
    expect(await login({ mac: '52:54:00:91:00:08', mode: 'shell', user: 'otto', password: PASSWORDS.otto }, from)).toMatch(/Too many wrong logins/);
    // The API's logins from it too, with the right password: 429 with Retry-After.
    const held = await execa('curl', ['-sS', '-i', '--interface', from, '-u', `otto:${PASSWORDS.otto}`, `${B}/api/hosts`]);
    expect(held.stdout).toMatch(/^HTTP\/1\.1 429/);
    expect(held.stdout).toMatch(/retry-after: \d+/i);
    // Another address is not held back.
    expect(tokenOf(await login({ mac: '52:54:00:91:00:06', mode: 'shell', user: 'otto', password: PASSWORDS.otto }, '127.0.0.52'))).toBeDefined();
    // A wrong API login holds back its own address, and the right one passes again after the wait.
    expect((await curl(`${B}/api/hosts`, { basic: 'nobody:guess-2', from: '127.0.0.53' })).status).toBe(401);
    // (On a loaded machine the first wait may be over before the next try: a second failure doubles it.)
    let status = 0;
    for (let i = 0; i < 3 && status !== 429; i++) status = (await curl(`${B}/api/hosts`, { basic: 'nobody:guess-2', from: '127.0.0.53' })).status;
    expect(status).toBe(429);
    const right = await execa('curl', ['-sS', '-i', '--interface', '127.0.0.53', '-u', `otto:${PASSWORDS.otto}`, `${B}/api/hosts`]);
    expect(right.stdout).toMatch(/^HTTP\/1\.1 429/);
    await new Promise((r) => setTimeout(r, 1000 * Number(/retry-after: (\d+)/i.exec(right.stdout)![1]) + 100));
    expect((await curl(`${B}/api/hosts`, { basic: `otto:${PASSWORDS.otto}`, from: '127.0.0.53' })).status).toBe(200);
    expect((await curl(`${B}/api/hosts`, { token: 'guess-3-token', from: '127.0.0.54' })).status).toBe(401);

    // Every failure is in the audit log, with its address, and no password or guessed token is.
    const audit = JSON.parse((await nr(['audit', '--json', '--state', state, '--limit', '1000'])).stdout) as AuditEntry[];
    const failed = audit.filter((e) => e.action === 'login-failed');
    expect(failed.filter((e) => e.actor.includes('127.0.0.51'))).toHaveLength(1);
    expect(failed.find((e) => e.actor === 'api (127.0.0.53)')?.detail).toMatch(/an unknown user name/);
    expect(audit.filter((e) => e.actor === 'api (127.0.0.53)').length).toBeLessThan(4); // held back: not checked, not counted again
    expect(failed.find((e) => e.actor === 'api (127.0.0.54)')?.detail).toMatch(/an unknown token/);
    const text = JSON.stringify(audit);
    for (const secret of ['guess-1', 'guess-2', 'guess-3-token', ...Object.values(PASSWORDS), 'vera-new-password', ADMIN]) expect(text, secret).not.toContain(secret);
  });
});
