/**
 * The HTTP boot face through the real CLI, checked with curl: boot files
 * (Range, HEAD, confinement), the per-host decision, logins, tasks reported
 * by an agent, and state that survives a restart.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestDisk } from '../helpers/disks.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';

const PORT = 18183;
const B = `http://127.0.0.1:${PORT}`;
const TOKEN = 'boot-face-admin-token';
const MAC = '52:54:00:83:00:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-bootface-'));
const boot = join(dir, 'boot');
const state = join(dir, 'state.db');
const kernel = randomBytes(3_000_000);
const addon = randomBytes(700_000);
let served: Served;
const TFTP = 16905;
const args = ['--dhcp', 'off', '--tftp-port', String(TFTP), '--http-port', String(PORT), '--listen', '127.0.0.1', '--boot-dir', boot, '--images', join(dir, 'store'), '--state', state, '--admin-token', TOKEN, '--menu-password', 'letmein-please', '--log-level', 'debug'];
const curl = (...a: string[]) => execa('curl', ['-sS', ...a], { reject: false, encoding: 'buffer' });
const text = async (url: string) => (await execa('curl', ['-sS', url])).stdout;
const nr = (...a: string[]) => execa(BIN, a, { reject: false, all: true });
// A wrong token holds its source address back (the login throttle): each wrong one here comes from an address of its own.
let wrongFrom = 10;
const fromElsewhere = () => ['--interface', `127.0.0.${++wrongFrom}`];

beforeAll(async () => {
  mkdirSync(boot);
  writeFileSync(join(boot, 'vmlinuz'), kernel);
  writeFileSync(join(boot, 'initrd.img'), 'initrd');
  mkdirSync(join(boot, 'addons'));
  writeFileSync(join(boot, 'addons/xfs.cpio.zst'), addon);
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  symlinkSync(join(dir, 'secret.txt'), join(boot, 'leak'));
  const disk = await buildTestDisk(dir, 'dc', { sizeMiB: 80 });
  await nr('publish', disk, '--name', 'dc01', '--role', 'domain-controller', '--images', join(dir, 'store'));
  await nr('publish', disk, '--name', 'fs01', '--description', 'file server', '--images', join(dir, 'store'));
  served = await startServe(args);
  await served.waitFor('http.listening');
}, 120_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('boot files over HTTP', () => {
  it('serves a file whole, by Range, and to HEAD', async () => {
    const whole = await curl(`${B}/boot/vmlinuz`);
    expect(whole.exitCode, Buffer.from(whole.stderr).toString()).toBe(0);
    expect(Buffer.from(whole.stdout).length).toBe(kernel.length);
    expect(Buffer.from(whole.stdout).equals(kernel)).toBe(true);
    const part = await curl('-r', '1000-1999', `${B}/boot/vmlinuz`);
    expect(Buffer.from(part.stdout).equals(kernel.subarray(1000, 2000))).toBe(true);
    const head = await execa('curl', ['-sSI', `${B}/boot/vmlinuz`]);
    expect(head.stdout).toMatch(/content-length: 3000000/i);
    expect(head.stdout).toMatch(/accept-ranges: bytes/i);
  });

  it('refuses paths that leave the boot directory, however spelled', async () => {
    for (const path of ['/boot/../secret.txt', '/boot/%2e%2e/secret.txt', '/boot/leak', '/boot/..%2fsecret.txt', '/boot/%2fetc%2fpasswd']) {
      const r = await execa('curl', ['-sS', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${B}${path}`]);
      expect(['403', '404'], path).toContain(r.stdout);
    }
    expect((await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${B}/boot/nothing`])).stdout).toBe('404');
  });

  it('gives the agent an add-on of the restore environment without a token, and says when there is none', async () => {
    const client = new ImagesClient({ server: B, token: undefined, retryForMs: 0 });
    expect((await client.bootFile('addons/xfs.cpio.zst')).equals(addon)).toBe(true);
    const err = await client.bootFile('addons/btrfs.cpio.zst').then(() => undefined, (e: Error) => e);
    expect(isNetrestoreError(err, 'BOOT_FILE_NOT_FOUND') && err.message).toBe('the service has no addons/btrfs.cpio.zst in its boot directory: run `netrestore build-env` into it');
  });
});

describe('boot decision and login', () => {
  it('sends a request without a MAC back with one, and shows the menu to a new host', async () => {
    expect(await text(`${B}/boot.ipxe`)).toContain('boot.ipxe?mac=${net0/mac}');
    const menu = await text(`${B}/boot.ipxe?mac=${MAC}`);
    expect(menu).toMatch(/item img\d dc01 .*\[domain-controller\]/);
    expect(menu).toMatch(/item img\d fs01 +file server/);
    expect(menu).toContain('choose --default local');
  });

  it('uses a host\'s own menu timeout when it has one', async () => {
    expect((await nr('hosts', 'add', '52:54:00:83:00:07', '--name', 'console-needed', '--menu-timeout', '300', '--state', state)).exitCode).toBe(0);
    expect(await text(`${B}/boot.ipxe?mac=52:54:00:83:00:07`)).toContain('choose --default local --timeout 300000 target');
    expect(await text(`${B}/boot.ipxe?mac=52:54:00:83:00:08`)).toContain('choose --default local --timeout 10000 target');
  });

  it('answers a wrong password with a message and slows the next try down', async () => {
    const bad = await text(`${B}/auth.ipxe?mac=${MAC}&mode=restore&image=fs01&username=admin&password=wrong`);
    expect(bad).toContain('Wrong user name or password');
    expect(bad).not.toContain('kernel');
    const again = await text(`${B}/auth.ipxe?mac=${MAC}&mode=restore&image=fs01&username=admin&password=letmein-please`);
    expect(again).toMatch(/Too many wrong logins from this machine: wait \d s/);
    await new Promise((r) => setTimeout(r, 2100));
    const ok = await text(`${B}/auth.ipxe?mac=${MAC}&mode=restore&image=fs01&username=admin&password=letmein-please`);
    expect(ok).toMatch(/kernel http:\/\/127\.0\.0\.1:18183\/boot\/vmlinuz initrd=initrd\.img netrestore\.server=http:\/\/127\.0\.0\.1:18183 netrestore\.token=\S+ netrestore\.mode=restore netrestore\.image=fs01/);
    // The token on that command line opens the images API for the agent.
    const token = /netrestore\.token=(\S+)/.exec(ok)![1]!;
    const list = await execa('curl', ['-sS', '-H', `Authorization: Bearer ${token}`, `${B}/api/images`]);
    expect(list.stdout).toContain('"name":"fs01"');
    expect((await execa('curl', ['-sS', ...fromElsewhere(), '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Authorization: Bearer made-up', `${B}/api/images`])).stdout).toBe('401');
  });

  it('boots a host with a task straight into it; the agent reports it started, then done; no loop', async () => {
    const made = await nr('hosts', 'task', MAC, 'restore', 'fs01', '--disk', '/dev/sda', '--state', state);
    expect(made.stdout).toMatch(/task (\d+): restore fs01 for 52:54:00:83:00:01/);
    const id = /task (\d+)/.exec(made.stdout)![1];
    const script = await text(`${B}/boot.ipxe?mac=${MAC}`);
    expect(script).toContain(`netrestore.task=${id}`);
    expect(script).toContain('netrestore.disk=/dev/sda');
    expect(script).not.toContain('login');
    const token = /netrestore\.token=(\S+)/.exec(script)![1]!;
    const report = (state_: string, tok = token) =>
      execa('curl', ['-sS', ...(tok === token ? [] : fromElsewhere()), '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-H', `Authorization: Bearer ${tok}`, '-H', 'content-type: application/json', '-d', JSON.stringify({ state: state_, bytes: 1000 }), `${B}/api/tasks/${id}`]);
    expect((await report('started', 'wrong-token')).stdout).toBe('401');
    expect((await report('started')).stdout).toBe('204');
    expect(await text(`${B}/boot.ipxe?mac=${MAC}`)).toMatch(/started but did not finish/);
    expect((await report('done')).stdout).toBe('204');
    const after = await text(`${B}/boot.ipxe?mac=${MAC}`);
    expect(after).toContain('choose --default local');
    expect(after).not.toContain('did not finish');
  });

  it('an agent run with --task reports it: done with its bytes, or failed with its error, in the history', async () => {
    const mac2 = '52:54:00:83:00:04';
    const id = /task (\d+)/.exec((await nr('hosts', 'task', mac2, 'restore', 'fs01', '--state', state)).stdout)![1]!;
    const token = /netrestore\.token=(\S+)/.exec(await text(`${B}/boot.ipxe?mac=${mac2}`))![1]!;
    const r = await nr('restore', '--server', B, '--token', token, '--image', 'fs01', '--target', join(dir, 'task-target.raw'), '--task', id, '--json');
    expect(JSON.parse(r.stdout).ok, r.all).toBe(true);
    expect((await nr('hosts', 'history', '--state', state)).stdout).toMatch(/52:54:00:83:00:04\s+restore\s+fs01\s+done/);
    expect(await text(`${B}/boot.ipxe?mac=${mac2}`)).toContain('choose --default local'); // no second restore

    const id2 = /task (\d+)/.exec((await nr('hosts', 'task', mac2, 'restore', 'fs01', '--state', state)).stdout)![1]!;
    const token2 = /netrestore\.token=(\S+)/.exec(await text(`${B}/boot.ipxe?mac=${mac2}`))![1]!;
    writeFileSync(join(dir, 'tiny.raw'), Buffer.alloc(1024 * 1024));
    const bad = await nr('restore', '--server', B, '--token', token2, '--image', 'fs01', '--target', join(dir, 'tiny.raw'), '--task', id2, '--yes', '--json');
    expect(bad.exitCode).toBe(1);
    expect((await nr('hosts', 'list', '--state', state)).stdout).toMatch(/52:54:00:83:00:04 .*restore fs01 \(failed: .*needs a disk of at least [\d.]+ MiB/);
    expect((await nr('hosts', 'history', '--state', state)).stdout).toMatch(/52:54:00:83:00:04\s+restore\s+fs01\s+failed: .*holds 1.0 MiB \(1048576 bytes\)/);
  });

  it('keeps hosts, tasks and history across a restart', async () => {
    await nr('hosts', 'add', '52:54:00:83:00:02', '--name', 'web01', '--state', state);
    await nr('hosts', 'task', '52:54:00:83:00:02', 'capture', 'web01-new', '--state', state);
    await served.stop();
    served = await startServe(args);
    await served.waitFor('http.listening');
    expect(await text(`${B}/boot.ipxe?mac=52:54:00:83:00:02`)).toContain('netrestore.mode=capture netrestore.image=web01-new');
    const hist = await nr('hosts', 'history', '--state', state);
    expect(hist.stdout).toMatch(/52:54:00:83:00:01\s+restore\s+fs01\s+done/);
    const list = await nr('hosts', 'list', '--state', state);
    expect(list.stdout).toMatch(/52:54:00:83:00:02\s+web01 .* capture web01-new \(pending\)/);
  });
});

describe('admin API', () => {
  const api = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
    execa('curl', ['-sS', ...(token && token !== TOKEN ? fromElsewhere() : []), '-w', '\n%{http_code}', '-X', method, ...(token ? ['-H', `Authorization: Bearer ${token}`] : []), ...(body ? ['-H', 'content-type: application/json', '-d', JSON.stringify(body)] : []), `${B}/api${path}`]).then((r) => {
      const lines = r.stdout.split('\n');
      return { status: Number(lines.pop()), body: lines.join('\n') };
    });

  it('refuses every call without the admin token, and such a call changes nothing', async () => {
    for (const token of [null, 'wrong-token']) {
      expect((await api('GET', '/hosts', undefined, token)).status).toBe(401);
      expect((await api('POST', '/hosts/52:54:00:83:00:09/task', { kind: 'restore', image: 'fs01' }, token)).status).toBe(401);
      expect((await api('PUT', '/hosts/52:54:00:83:00:09', { ignore: true }, token)).status).toBe(401);
    }
    const hosts = JSON.parse((await api('GET', '/hosts')).body) as { mac: string }[];
    expect(hosts.map((h) => h.mac)).not.toContain('52:54:00:83:00:09');
  });

  it('adds a host, gives it a task, cancels it, and lists history', async () => {
    expect((await api('PUT', '/hosts/52:54:00:83:00:09', { name: 'sql01', notes: 'rack 4' })).status).toBe(200);
    const t = await api('POST', '/hosts/52-54-00-83-00-09/task', { kind: 'restore', image: 'fs01', disk: '/dev/nvme0n1' });
    expect(t.status).toBe(201);
    expect(JSON.parse(t.body)).toMatchObject({ kind: 'restore', image: 'fs01', state: 'pending', disk: '/dev/nvme0n1' });
    expect(await text(`${B}/boot.ipxe?mac=52:54:00:83:00:09`)).toContain('netrestore.disk=/dev/nvme0n1');
    expect(JSON.parse((await api('DELETE', '/hosts/52:54:00:83:00:09/task')).body)).toEqual({ cancelled: 1 });
    expect(await text(`${B}/boot.ipxe?mac=52:54:00:83:00:09`)).toContain('choose --default local');
    expect((await api('POST', '/hosts/not-a-mac/task', { kind: 'restore', image: 'fs01' })).status).toBe(400);
    expect((await api('POST', '/hosts/52:54:00:83:00:09/task', { kind: 'format', image: 'fs01' })).status).toBe(400);
    expect(JSON.parse((await api('GET', '/history')).body)).toEqual(expect.arrayContaining([expect.objectContaining({ image: 'fs01', result: 'done' })]));
  });
});

describe('boot scripts over TFTP, for sites where iPXE cannot use HTTP', () => {
  const tftp = async (path: string) => (await execa('curl', ['-sS', `tftp://127.0.0.1:${TFTP}/${path}`])).stdout;

  it('serves boot.ipxe, the per-host decision and the login as virtual files', async () => {
    expect(await tftp('boot.ipxe')).toContain(`chain --autofree tftp://127.0.0.1:${TFTP}/hosts/\${net0/mac:hexhyp}.ipxe`);
    const menu = await tftp('hosts/52-54-00-83-00-05.ipxe');
    expect(menu).toContain('choose --default local');
    expect(menu).toContain(`tftp://127.0.0.1:${TFTP}/auth/\${net0/mac:hexhyp}/\${mode}/\${image}/`);
    expect(await tftp('auth/52-54-00-83-00-05/restore/fs01/admin/wrong.ipxe')).toContain('Wrong user name or password');
    await new Promise((r) => setTimeout(r, 2100));
    const ok = await tftp('auth/52-54-00-83-00-05/restore/fs01/admin/letmein-please.ipxe');
    expect(ok).toContain(`kernel tftp://127.0.0.1:${TFTP}/vmlinuz initrd=initrd.img netrestore.server=${B}`);
    expect(ok).toContain(`initrd --name initrd.img tftp://127.0.0.1:${TFTP}/initrd.img`);
    // The kernel itself comes from the boot directory.
    await execa('curl', ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${TFTP}/vmlinuz`, '-o', join(dir, 'k')]);
    expect((await execa('cmp', [join(dir, 'k'), join(boot, 'vmlinuz')], { reject: false })).exitCode).toBe(0);
  });
});
