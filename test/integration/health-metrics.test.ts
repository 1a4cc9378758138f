/**
 * /healthz and /metrics of the real service in a network namespace, after a
 * real DHCP exchange (udhcpc), a real TFTP transfer (tftp-hpa) and a restore
 * (`netrestore restore --task` against the service into a file): the
 * counters are read back through a strict parser of the text format.
 */
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { parsePromText, sample } from '../helpers/prom-text.ts';

const TOKEN = 'watch-test-admin-token';
const BASE = 'http://10.82.0.1:8080';

describe.runIf(netnsAvailable())('health and metrics after DHCP, TFTP and a restore', () => {
  let lan: Lan;
  let served: Served;
  const dir = mkdtempSync(join(tmpdir(), 'nr-watch-ops-'));
  const boot = join(dir, 'boot');
  const store = join(dir, 'store');

  const curl = (args: string[]) => lan.exec('client', 'curl', ['-sS', ...args]);
  // Through a file: the exec helper strips the final newline the format requires.
  const metrics = async () => {
    await curl(['-o', join(dir, 'metrics.txt'), `${BASE}/metrics`]);
    return parsePromText(readFileSync(join(dir, 'metrics.txt'), 'utf8'));
  };

  beforeAll(async () => {
    mkdirSync(boot);
    for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) copyFileSync(`/usr/lib/ipxe/${f}`, join(boot, f));
    writeFileSync(join(boot, 'vmlinuz'), 'kernel');
    writeFileSync(join(boot, 'initrd.img'), 'initrd');
    // A 16 MiB disk: 4 MiB of random data twice and zeros; the store keeps the data once.
    const block = randomBytes(4 << 20);
    const disk = join(dir, 'disk.raw');
    writeFileSync(disk, Buffer.concat([block, Buffer.alloc(4 << 20), block, Buffer.alloc(4 << 20)]));
    const p = await execa(BIN, ['publish', disk, '--name', 'plain', '--images', store], { all: true, reject: false });
    expect(p.exitCode, p.all).toBe(0);

    lan = await createLan({ srv: '10.82.0.1/24', client: null }, { prefix: 'nrw' });
    served = await startServe(['--interface', 'eth0', '--dhcp', 'full', '--pool', '10.82.0.100-10.82.0.119', '--boot-dir', boot, '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
  }, 120_000);
  afterAll(async () => {
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts a DHCP exchange by message type', async () => {
    const script = join(dir, 'udhcpc.script');
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/24" dev "$interface" && echo "bound $ip"\nexit 0\n');
    chmodSync(script, 0o755);
    const r = await lan.exec('client', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-s', script]);
    expect(r.all).toMatch(/bound 10\.82\.0\.100/);
    const m = await metrics();
    expect(sample(m, 'netrestore_dhcp_requests_total', { port: 'dhcp', type: 'DISCOVER' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'netrestore_dhcp_requests_total', { port: 'dhcp', type: 'REQUEST' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'netrestore_dhcp_replies_total', { port: 'dhcp', type: 'OFFER' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'netrestore_dhcp_replies_total', { port: 'dhcp', type: 'ACK' })).toBe(1);
  });

  it('counts a TFTP transfer and its bytes', async () => {
    const out = join(dir, 'got.kpxe');
    await lan.exec('client', 'tftp', ['-m', 'binary', '10.82.0.1', '-c', 'get', 'undionly.kpxe', out]);
    expect(readFileSync(out).equals(readFileSync('/usr/lib/ipxe/undionly.kpxe'))).toBe(true);
    await lan.exec('client', 'tftp', ['-m', 'binary', '10.82.0.1', '-c', 'get', 'no-such-file', join(dir, 'none')], { reject: false });
    await served.waitFor('tftp.done');
    const m = await metrics();
    expect(sample(m, 'netrestore_tftp_transfers_total', { result: 'done' })).toBe(1);
    expect(sample(m, 'netrestore_tftp_transfers_total', { result: 'refused' })).toBe(1);
    expect(sample(m, 'netrestore_bytes_served_total', { protocol: 'tftp' })).toBe(statSync('/usr/lib/ipxe/undionly.kpxe').size);
  });

  it('counts a restore task, HTTP requests by route, bytes, the store and a refused token', async () => {
    const mac = (await lan.exec('client', 'cat', ['/sys/class/net/eth0/address'])).all.trim();
    const task = JSON.parse((await curl(['-X', 'POST', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'Content-Type: application/json', '-d', '{"kind":"restore","image":"plain"}', `${BASE}/api/hosts/${mac}/task`])).all) as { id: number };
    const target = join(dir, 'restored.raw');
    const r = await lan.exec('client', BIN, ['restore', '--server', BASE, '--token', TOKEN, '--image', 'plain', '--target', target, '--task', String(task.id), '--json'], { timeout: 120_000 });
    expect(r.all).toMatch(/"ok":true/);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'disk.raw')))).toBe(true);
    expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', 'Authorization: Bearer wrong-token-123', `${BASE}/api/hosts`])).all).toBe('401');

    const m = await metrics();
    expect(sample(m, 'netrestore_tasks', { kind: 'restore', state: 'done' })).toBe(1);
    expect(sample(m, 'netrestore_tasks', { kind: 'restore', state: 'started' })).toBe(0);
    expect(sample(m, 'netrestore_tasks', { kind: 'capture', state: 'failed' })).toBe(0);
    expect(sample(m, 'netrestore_http_requests_total', { method: 'GET', route: '/api/images/:name', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'netrestore_http_requests_total', { method: 'POST', route: '/api/tasks/:id', status: '204' })).toBe(2); // started, done
    expect(sample(m, 'netrestore_http_requests_total', { method: 'GET', route: '/api/hosts', status: '401' })).toBe(1);
    // The restore fetched the one stored 4 MiB chunk of random data at least once.
    expect(sample(m, 'netrestore_bytes_served_total', { protocol: 'http' })).toBeGreaterThan(4 << 20);
    expect(sample(m, 'netrestore_store_images')).toBe(1);
    expect(sample(m, 'netrestore_store_logical_bytes')).toBe(8 << 20);
    expect(sample(m, 'netrestore_store_dedup_ratio')).toBeCloseTo((8 << 20) / sample(m, 'netrestore_store_bytes'), 6);
    expect(sample(m, 'netrestore_store_dedup_ratio')).toBeGreaterThan(1.9);
    expect(sample(m, 'netrestore_login_failures_total', { where: 'api' })).toBe(1);
    expect(sample(m, 'netrestore_login_failures_total', { where: 'menu' })).toBe(0);
    expect(m.get('netrestore_dhcp_requests_total')!.type).toBe('counter');
  });

  it('/healthz: every part up with 200, and a missing boot file makes it 503 with the reason', async () => {
    const ok = await curl(['-w', '\\n%{http_code}', `${BASE}/healthz`]);
    const [body, code] = ok.all.split('\n');
    expect(code).toBe('200');
    const h = JSON.parse(body!) as { ok: boolean; parts: Record<string, { state: string; reason?: string }> };
    expect(h.ok).toBe(true);
    for (const part of ['link', 'dhcp', 'proxy', 'tftp', 'http', 'store', 'state', 'bootFiles']) expect(h.parts[part]?.state, part).toBe('up');

    unlinkSync(join(boot, 'snponly.efi'));
    const bad = await curl(['-w', '\\n%{http_code}', `${BASE}/healthz`]);
    const [body2, code2] = bad.all.split('\n');
    expect(code2).toBe('503');
    expect(JSON.parse(body2!).parts.bootFiles).toEqual({ state: 'down', reason: expect.stringMatching(/missing boot files: snponly\.efi/) });
  });
});
