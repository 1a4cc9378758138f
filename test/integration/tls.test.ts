/**
 * TLS against the real service: `serve --tls auto` makes its certificate once
 * and keeps it; the boot script hands the agent the https:// base and the
 * certificate's fingerprint; the agent restores over HTTPS with it, and stops
 * with TLS_FINGERPRINT on any other certificate, TLS_UNTRUSTED without one;
 * the plain port refuses the API; an admin's own certificate is served as given.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import { sha256File } from '../helpers/disks.ts';

// Ports of this test only (others run beside it).
const HTTP = 18461;
const HTTPS = 18462;
const ADMIN = 'tls-test-admin-token-01';
const MAC = '52:54:00:7e:15:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-tls-'));
const store = join(dir, 'images');
const state = join(dir, 'state.db');
const serveArgs = ['--dhcp', 'off', '--tftp-port', 'off', '--listen', '127.0.0.1', '--server-ip', '127.0.0.1', '--http-port', String(HTTP), '--https-port', String(HTTPS), '--images', store, '--state', state, '--boot-dir', join(dir, 'boot'), '--admin-token', ADMIN];
let served: Served;
let fingerprint: string;
let disk: string;

const nr = (args: string[]) => execa(BIN, args, { reject: false, all: true, env: {} });
const last = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;
const opensslFingerprint = async (cert: string) => {
  const out = (await execa('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])).stdout;
  return `sha256:${out.split('=')[1]!.replace(/:/g, '').toLowerCase()}`;
};

beforeAll(async () => {
  mkdirSync(join(dir, 'boot'));
  // A disk with data, holes and repeats: enough chunks to make a restore a restore.
  disk = join(dir, 'source.raw');
  const fd = openSync(disk, 'w');
  for (const at of [0, 3, 4, 9]) writeSync(fd, randomBytes(1024 * 1024), 0, 1024 * 1024, at * 1024 * 1024);
  writeSync(fd, Buffer.alloc(1024 * 1024, 7), 0, 1024 * 1024, 15 * 1024 * 1024);
  closeSync(fd);
  expect((await nr(['publish', disk, '--name', 'tls-img', '--images', store])).exitCode).toBe(0);
  served = await startServe(['--tls', 'auto', ...serveArgs]);
  fingerprint = String((await served.waitFor('https.listening')).fingerprint);
}, 120_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('serve --tls auto', () => {
  it('makes a certificate beside the state, its key readable by its owner only, and says its fingerprint', async () => {
    const made = await served.waitFor('tls.certificate-made');
    expect(made.cert).toBe(join(dir, 'netrestore-tls.crt'));
    expect(statSync(join(dir, 'netrestore-tls.key')).mode & 0o777).toBe(0o600);
    expect(fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fingerprint).toBe(await opensslFingerprint(join(dir, 'netrestore-tls.crt')));
    // openssl's own client: the certificate on the wire is the one in the file.
    const wire = await execa('sh', ['-c', `openssl s_client -connect 127.0.0.1:${HTTPS} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
    expect(`sha256:${wire.stdout.split('=')[1]!.replace(/:/g, '').toLowerCase()}`).toBe(fingerprint);
  });

  it('keeps the API off the plain port, and serves the boot face there', async () => {
    const api = await fetch(`http://127.0.0.1:${HTTP}/api/images`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(api.status).toBe(403);
    expect(await api.json()).toMatchObject({ code: 'HTTPS_REQUIRED', error: expect.stringContaining(`https://127.0.0.1:${HTTPS}/api`) });
    const boot = await fetch(`http://127.0.0.1:${HTTP}/boot.ipxe?mac=${MAC}`);
    expect(boot.status).toBe(200);
    expect(await boot.text()).toMatch(/^#!ipxe/);
    const r = await nr(['restore', '--server', `http://127.0.0.1:${HTTP}`, '--token', ADMIN, '--image', 'tls-img', '--target', join(dir, 'plain.raw'), '--json']);
    expect(r.exitCode, r.all).toBe(1);
    expect(last(r.stdout)).toMatchObject({ ok: false, code: 'HTTPS_REQUIRED' });
  });

  it('gives a booting machine the https:// base and the fingerprint; the agent restores over HTTPS with them', async () => {
    expect((await nr(['hosts', 'task', MAC, 'restore', 'tls-img', '--state', state])).exitCode).toBe(0);
    const script = await (await fetch(`http://127.0.0.1:${HTTP}/boot.ipxe?mac=${MAC}`)).text();
    const kernel = script.split('\n').find((l) => l.startsWith('kernel '));
    expect(kernel).toContain(`netrestore.server=https://127.0.0.1:${HTTPS} netrestore.tls=${fingerprint} netrestore.token=`);
    // The agent reads that line as the restore environment's init hands it over.
    const params = parseCmdline(kernel!);
    expect(params).toMatchObject({ server: `https://127.0.0.1:${HTTPS}`, fingerprint, mode: 'restore', image: 'tls-img' });
    const target = join(dir, 'restored.raw');
    const r = await nr(['restore', '--server', params.server, '--fingerprint', params.fingerprint!, '--token', params.token!, '--task', String(params.task), '--image', params.image!, '--target', target, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    expect(last(r.stdout)).toMatchObject({ ok: true, verified: true });
    expect(sha256File(target)).toBe(sha256File(disk));
  });

  it('refuses a server whose certificate has another fingerprint, and one it cannot verify', async () => {
    const wrong = `sha256:${'ab'.repeat(32)}`;
    const r = await nr(['restore', '--server', `https://127.0.0.1:${HTTPS}`, '--fingerprint', wrong, '--token', ADMIN, '--image', 'tls-img', '--target', join(dir, 'wrong.raw'), '--json']);
    expect(r.exitCode, r.all).toBe(1);
    expect(last(r.stdout)).toMatchObject({ ok: false, code: 'TLS_FINGERPRINT' });
    expect(String(last(r.stdout).error)).toContain(fingerprint);
    const c = await nr(['capture', '--server', `https://127.0.0.1:${HTTPS}`, '--fingerprint', wrong, '--token', ADMIN, '--source', disk, '--name', 'never', '--json']);
    expect(last(c.stdout)).toMatchObject({ ok: false, code: 'TLS_FINGERPRINT' });
    const none = await nr(['restore', '--server', `https://127.0.0.1:${HTTPS}`, '--token', ADMIN, '--image', 'tls-img', '--target', join(dir, 'none.raw'), '--json']);
    expect(last(none.stdout)).toMatchObject({ ok: false, code: 'TLS_UNTRUSTED' });
  });

  it('captures over HTTPS with the fingerprint', async () => {
    const c = await nr(['capture', '--server', `https://127.0.0.1:${HTTPS}`, '--fingerprint', fingerprint, '--token', ADMIN, '--source', disk, '--name', 'tls-cap', '--json']);
    expect(c.exitCode, c.all).toBe(0);
    const list = await nr(['images', 'list', '--images', store, '--json']);
    expect(list.stdout).toContain('tls-cap');
  });

  it('keeps its certificate across a restart', async () => {
    await served.stop();
    served = await startServe(['--tls', 'auto', ...serveArgs]);
    const again = await served.waitFor('https.listening');
    expect(again.fingerprint).toBe(fingerprint);
    expect(served.events.some((e) => e.event === 'tls.certificate-made')).toBe(false);
  });
});

describe('serve --tls-cert --tls-key', () => {
  it("serves the admin's certificate, and refuses a key that is not its own", async () => {
    await served.stop();
    const own = join(dir, 'own');
    mkdirSync(own);
    const make = (name: string) =>
      execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', join(own, `${name}.key`), '-out', join(own, `${name}.crt`)]);
    await make('a');
    await make('b');
    served = await startServe(['--tls-cert', join(own, 'a.crt'), '--tls-key', join(own, 'a.key'), ...serveArgs]);
    expect((await served.waitFor('https.listening')).fingerprint).toBe(await opensslFingerprint(join(own, 'a.crt')));
    await served.stop();
    const bad = await nr(['serve', '--tls-cert', join(own, 'a.crt'), '--tls-key', join(own, 'b.key'), ...serveArgs]);
    expect(bad.exitCode).toBe(1);
    expect(bad.all).toMatch(/does not belong to the certificate/);
  });
});
