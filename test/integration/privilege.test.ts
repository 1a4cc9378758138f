/**
 * `serve --user`: started as root in a namespace of its own, the service binds
 * DHCP 67 and 4011, TFTP 69, HTTP 80 and HTTPS 443, then runs as nobody:
 * /proc says so for every thread (uids, gids, groups, no capability left),
 * and DHCP, TFTP, HTTP and HTTPS still answer real clients; a capture over
 * HTTPS still writes the image store root had filled before.
 */
import { execa } from 'execa';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';

const NOBODY = 65534;
const ADMIN = 'privilege-test-admin-01';
const SRV = '10.79.0.1';

describe.runIf(netnsAvailable())('serve --user nobody', () => {
  let lan: Lan;
  let served: Served;
  const dir = mkdtempSync(join(tmpdir(), 'nr-priv-'));
  const home = join(dir, 'var'); // what /var/lib/netrestore is on a real server
  const images = join(home, 'images');
  const state = join(home, 'state.db');
  const boot = join(dir, 'boot');
  let fingerprint: string;

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    mkdirSync(home);
    chownSync(home, NOBODY, NOBODY);
    mkdirSync(boot);
    writeFileSync(join(boot, 'hello.txt'), 'served after the switch\n');
    // An image published by root before: its folders are root's until serve hands them over.
    const disk = join(dir, 'disk.raw');
    const fd = openSync(disk, 'w');
    writeSync(fd, randomBytes(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 1024 * 1024);
    closeSync(fd);
    const p = await execa(BIN, ['publish', disk, '--name', 'before', '--images', images], { reject: false, all: true });
    expect(p.exitCode, p.all).toBe(0);
    expect(statSync(join(images, 'manifests')).uid).toBe(0);
    lan = await createLan({ srv: `${SRV}/24`, a: '10.79.0.50/24', b: null }, { prefix: 'nrtls' });
    served = await startServe(['--user', 'nobody', '--dhcp', 'full', '--interface', 'eth0', '--pool', '10.79.0.100-10.79.0.110', '--tftp-port', '69', '--http-port', '80', '--tls', 'auto', '--https-port', '443', '--state', state, '--images', images, '--boot-dir', boot, '--admin-token', ADMIN], { ns: lan.ns('srv') });
    await served.waitFor('serve.user', undefined, 60_000);
    fingerprint = String((await served.waitFor('https.listening')).fingerprint);
  }, 180_000);
  afterAll(async () => {
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (path: string) => Object.fromEntries(readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));

  it('runs as nobody after binding, in every thread, with no capability left', async () => {
    const pid = served.proc.pid!;
    // `ip netns exec` and bin/netrestore exec: the pid is node's.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('src/cli.ts');
    const threads = readdirSync(`/proc/${pid}/task`);
    expect(threads.length).toBeGreaterThan(1);
    for (const t of threads) {
      const s = status(`/proc/${pid}/task/${t}/status`);
      expect(s.Uid!.split(/\s+/), `thread ${t}`).toEqual([String(NOBODY), String(NOBODY), String(NOBODY), String(NOBODY)]);
      expect(s.Gid!.split(/\s+/), `thread ${t}`).toEqual([String(NOBODY), String(NOBODY), String(NOBODY), String(NOBODY)]);
      expect(s.Groups, `thread ${t}`).toBe(String(NOBODY));
      for (const set of ['CapEff', 'CapPrm', 'CapAmb']) expect(BigInt(`0x${s[set]}`), `thread ${t} ${set}`).toBe(0n);
    }
    // The ports it holds are the privileged ones.
    const ss = (await lan.exec('srv', 'ss', ['-lntupH'])).all;
    for (const port of [':67 ', ':4011 ', ':69 ', ':80 ', ':443 ']) expect(ss).toContain(port);
  });

  it('still answers DHCP (udhcpc), TFTP (tftp-hpa), HTTP and HTTPS (curl)', async () => {
    const dhcp = await lan.exec('b', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true']);
    expect(dhcp.all).toMatch(/lease of 10\.79\.0\.10\d obtained from 10\.79\.0\.1/);
    const got = join(dir, 'got.txt');
    await lan.exec('a', 'tftp', ['-m', 'binary', SRV, '-c', 'get', 'hello.txt', got]);
    expect(readFileSync(got, 'utf8')).toBe('served after the switch\n');
    const script = await lan.exec('a', 'curl', ['-sf', `http://${SRV}/boot.ipxe?mac=52:54:00:7e:15:02`]);
    expect(script.all).toMatch(/^#!ipxe/);
    const list = await lan.exec('a', 'curl', ['-skf', '-H', `authorization: Bearer ${ADMIN}`, `https://${SRV}/api/images`]);
    expect(JSON.parse(list.all).map((m: { name: string }) => m.name)).toEqual(['before']);
  });

  it('writes the image store it was handed: a capture over HTTPS', async () => {
    expect(statSync(join(images, 'manifests')).uid).toBe(NOBODY);
    const source = join(dir, 'capture.raw');
    writeFileSync(source, randomBytes(3 * 1024 * 1024));
    const c = await lan.exec('a', BIN, ['capture', '--server', `https://${SRV}`, '--fingerprint', fingerprint, '--token', ADMIN, '--source', source, '--name', 'after', '--json'], { reject: false });
    expect(c.exitCode, c.all).toBe(0);
    const list = await lan.exec('a', 'curl', ['-skf', '-H', `authorization: Bearer ${ADMIN}`, `https://${SRV}/api/images`]);
    expect(JSON.parse(list.all).map((m: { name: string }) => m.name).sort()).toEqual(['after', 'before']);
  });
});

describe('serve --user refuses what it cannot do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nr-priv-refuse-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const serve = (args: string[]) => execa(BIN, ['serve', '--dhcp', 'off', '--tftp-port', 'off', '--listen', '127.0.0.1', '--http-port', '18463', ...args], { reject: false, all: true });

  it('an unknown user', async () => {
    const r = await serve(['--user', 'nrtls-no-such-user', '--state', join(dir, 'a.db'), '--images', join(dir, 'images')]);
    expect(r.exitCode).toBe(1);
    expect(r.all).toMatch(/no such user/);
  });

  it.runIf(process.getuid?.() === 0)('a state folder the user cannot write, naming it', async () => {
    chmodSync(dir, 0o755);
    const r = await serve(['--user', 'nobody', '--state', join(dir, 'a.db'), '--images', join(dir, 'images')]);
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain(`user nobody cannot write the folder of the state database, ${dir}`);
  });
});
