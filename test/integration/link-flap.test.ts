/**
 * Links that come and go: `serve --interface eth0` on a veth whose peer is
 * down (no carrier, no address) starts and waits; when the link comes up
 * with an address a real DHCP client (udhcpc, as a PXE client) gets its
 * boot answer; after the link goes down and up, and after the address
 * changes, it still answers, with the new address as the boot server.
 */
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { startServe, type Served } from '../../src/drill/service.ts';

describe.runIf(netnsAvailable())('serve on a link that comes and goes', () => {
  let lan: Lan;
  let served: Served;
  const dir = mkdtempSync(join(tmpdir(), 'nr-watch-link-'));
  const script = join(dir, 'udhcpc.script');
  const boot = join(dir, 'boot');

  beforeAll(async () => {
    lan = await createLan({ srv: null, client: null }, { prefix: 'nrw' });
    // The server's end has no carrier: its peer on the bridge (p0) is down.
    await execa('ip', ['-n', lan.bridgeNs, 'link', 'set', 'p0', 'down']);
    mkdirSync(boot);
    for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) copyFileSync(`/usr/lib/ipxe/${f}`, join(boot, f));
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip siaddr=$siaddr boot_file=$boot_file"\nexit 0\n');
    chmodSync(script, 0o755);
  });
  afterAll(async () => {
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const srv = (...args: string[]) => execa('ip', ['-n', lan.ns('srv'), ...args]);
  const peer = (state: 'up' | 'down') => execa('ip', ['-n', lan.bridgeNs, 'link', 'set', 'p0', state]);
  /** A PXE client's DHCP exchange (option 60 PXEClient, option 93 arch 0 = BIOS). */
  const pxe = async () => {
    const r = await lan.exec('client', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-s', script], { reject: false });
    return r.all;
  };

  it('starts on an interface without carrier and says that it waits', async () => {
    const carrier = (await lan.exec('srv', 'cat', ['/sys/class/net/eth0/carrier'], { reject: false })).all.trim();
    expect(carrier).toBe('0');
    served = await startServe(['--interface', 'eth0', '--dhcp', 'full', '--pool', '10.81.0.100-10.81.0.119', '--boot-dir', boot, '--state', join(dir, 'state.db'), '--images', join(dir, 'images')], { ns: lan.ns('srv') });
    const w = await served.waitFor('link.waiting');
    expect(w.reason).toMatch(/eth0 has no carrier/);
    expect(served.events.some((e) => e.event === 'dhcp.listening')).toBe(false);
  });

  it('answers a PXE client once the link comes up with an address', async () => {
    await srv('addr', 'add', '10.81.0.1/24', 'dev', 'eth0');
    await peer('up');
    await served.waitFor('dhcp.listening', (e) => e.serverIp === '10.81.0.1');
    const out = await pxe();
    expect(out).toMatch(/bound ip=10\.81\.0\.10\d siaddr=10\.81\.0\.1 boot_file=undionly\.kpxe/);
  });

  it('keeps answering across a link flap, without a restart', async () => {
    await peer('down');
    await served.waitFor('link.state', (e) => e.to === 'no-carrier');
    await peer('up');
    await served.waitFor('link.state', (e) => e.to === 'up' && e.from === 'no-carrier');
    expect(await pxe()).toMatch(/siaddr=10\.81\.0\.1 boot_file=undionly\.kpxe/);
    expect(served.events.filter((e) => e.event === 'dhcp.listening')).toHaveLength(1);
  });

  it('follows an address change: the new address is the boot server', async () => {
    await srv('addr', 'del', '10.81.0.1/24', 'dev', 'eth0');
    await srv('addr', 'add', '10.81.0.2/24', 'dev', 'eth0');
    await served.waitFor('link.restart', (e) => /10\.81\.0\.1 to 10\.81\.0\.2/.test(String(e.reason)));
    await served.waitFor('dhcp.listening', (e) => e.serverIp === '10.81.0.2');
    expect(await pxe()).toMatch(/siaddr=10\.81\.0\.2 boot_file=undionly\.kpxe/);
  });

  it('refuses an interface that does not exist, naming the ones there are', async () => {
    const s = await startServe(['--interface', 'nosuch0', '--state', join(dir, 'other.db')], { ns: lan.ns('srv') });
    const r = await s.proc;
    expect(r.exitCode).toBe(1);
    expect(s.text()).toMatch(/no network interface named nosuch0.*have: .*eth0/);
  });
});
