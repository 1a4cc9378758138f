/**
 * `netrestore doctor` in network namespaces: dnsmasq as the site DHCP server
 * (plain: no finding; with option 66: found and named), a TFTP port taken by
 * another process (named with its pid), and a clean setup with no finding.
 */
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { BIN, startServe } from '../../src/drill/service.ts';

interface Report {
  ok: boolean;
  findings: { check: string; problem: string; fix: string }[];
  checks: { check: string; status: string; note?: string }[];
}

describe.runIf(netnsAvailable())('netrestore doctor', () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'nr-watch-doctor-'));
  const boot = join(dir, 'boot');
  const running: ResultPromise[] = [];

  beforeAll(async () => {
    mkdirSync(boot);
    for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) copyFileSync(`/usr/lib/ipxe/${f}`, join(boot, f));
    writeFileSync(join(boot, 'vmlinuz'), 'kernel');
    writeFileSync(join(boot, 'initrd.img'), 'initrd');
    lan = await createLan({ srv: '10.84.0.1/24', site: '10.84.0.2/24' }, { prefix: 'nrw' });
  });
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.kill('SIGTERM');
      await p.catch(() => {});
    }
  });
  afterAll(async () => {
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** dnsmasq as the site's DHCP server, in its own namespace; extra options as dnsmasq flags. */
  const siteDhcp = async (...extra: string[]) => {
    const p = execa('ip', ['netns', 'exec', lan.ns('site'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.84.0.50,10.84.0.60,255.255.255.0,1h', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, ...extra], { reject: false, all: true });
    running.push(p);
    // Ready when it listens on 67.
    for (let i = 0; i < 50; i++) {
      const ss = await lan.exec('site', 'ss', ['-Hlnup']);
      if (/:67\b.*dnsmasq/.test(ss.all)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`dnsmasq did not start: ${(await p.catch((e: unknown) => e)) as string}`);
  };

  const doctor = async (...extra: string[]): Promise<{ report: Report; text: string; exitCode: number }> => {
    const args = ['doctor', '--interface', 'eth0', '--boot-dir', boot, '--images', join(dir, 'images'), '--probe-seconds', '6', ...extra];
    const j = await lan.exec('srv', BIN, [...args, '--json'], { reject: false, timeout: 60_000 });
    const t = await lan.exec('srv', BIN, args, { reject: false, timeout: 60_000 });
    return { report: JSON.parse(j.all.trim().split('\n').pop()!) as Report, text: t.all, exitCode: t.exitCode };
  };

  it('gives no finding on a clean setup: a plain site DHCP server, free ports, current boot files', async () => {
    await siteDhcp();
    const r = await doctor();
    expect(r.report.findings).toEqual([]);
    expect(r.report.ok).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.report.checks.find((c) => c.check === 'dhcp')).toMatchObject({ status: 'ok', note: expect.stringMatching(/10\.84\.0\.2/) });
    expect(r.text).toMatch(/^no findings: ports, dhcp, boot-files, free-space, clock ok$/m);
  });

  it('finds a site DHCP server that sets option 66 and names it', async () => {
    await siteDhcp('--dhcp-option=66,10.84.0.99', '--dhcp-boot=pxelinux.0');
    const r = await doctor();
    expect(r.exitCode).toBe(1);
    const dhcp = r.report.findings.filter((f) => f.check === 'dhcp');
    expect(dhcp).toHaveLength(1);
    expect(dhcp[0]!.problem).toMatch(/the DHCP server at 10\.84\.0\.2 sets .*option 66 "10\.84\.0\.99"/);
    expect(dhcp[0]!.fix).toMatch(/remove options 66\/67/);
    expect(r.text).toMatch(/^dhcp: the DHCP server at 10\.84\.0\.2 sets .*option 66 .* → remove options 66\/67/m);
  });

  it('with the signed chain in proxy mode: names a site DHCP server that does not name this one as next-server (dnsmasq names itself), and is content once it does', async () => {
    await siteDhcp();
    const dhcp = (r: { report: Report }) => r.report.findings.filter((f) => f.check === 'dhcp');
    const itself = dhcp(await doctor('--uefi-boot', 'shim'));
    expect(itself.map((f) => f.problem)).toEqual([expect.stringMatching(/^UEFI machines get the signed chain \(--uefi-boot shim\), but the DHCP server at 10\.84\.0\.2 names 10\.84\.0\.2 as TFTP server/)]);
    expect(itself[0]!.fix).toMatch(/set next-server \(siaddr\) to 10\.84\.0\.1 on the site DHCP server/);
    for (const p of running.splice(0)) {
      p.kill('SIGTERM');
      await p.catch(() => {});
    }
    await siteDhcp('--dhcp-option=option:server-ip-address,10.84.0.1');
    expect(dhcp(await doctor('--uefi-boot', 'shim'))).toEqual([]);
  });

  it('names the process that holds the TFTP port', async () => {
    await siteDhcp();
    // Another TFTP server on this machine (as libvirt's or a PXE setup's dnsmasq would be).
    const holder = execa('ip', ['netns', 'exec', lan.ns('srv'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${boot}`, `--pid-file=${join(dir, 'tftp.pid')}`], { reject: false });
    running.push(holder);
    for (let i = 0; i < 50 && !/:69\b/.test((await lan.exec('srv', 'ss', ['-Hlnup'])).all); i++) await new Promise((r) => setTimeout(r, 100));
    const pid = /pid=(\d+)/.exec((await lan.exec('srv', 'ss', ['-Hlnup', 'sport', '= :69'])).all)![1];
    const r = await doctor();
    expect(r.report.findings).toEqual([{ check: 'ports', problem: `UDP port 69 (TFTP) is taken by dnsmasq (pid ${pid})`, fix: expect.stringMatching(/stop and disable it .*--tftp-port/) }]);
    expect(r.text).toMatch(new RegExp(`^ports: UDP port 69 \\(TFTP\\) is taken by dnsmasq \\(pid ${pid}\\) → stop`, 'm'));
  });

  it('names a machine whose firmware ignores ProxyDHCP offers, from the running service, forgets it once it fetches a boot file, and does not name the service own ports', async () => {
    const served = await startServe(['--interface', 'eth0', '--boot-dir', boot, '--images', join(dir, 'images'), '--state', join(dir, 'state.db')], { ns: lan.ns('srv') });
    try {
      await served.waitFor('dhcp.listening');
      // udhcpc stands for such firmware: three boot attempts, each a DISCOVER that gets our ProxyDHCP offer, never a boot file fetched.
      for (let i = 0; i < 3; i++) await lan.exec('site', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '1', '-T', '1', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-s', '/bin/true'], { reject: false });
      const mac = (await lan.exec('site', 'cat', ['/sys/class/net/eth0/address'])).all.trim();
      const r = await doctor();
      expect(r.report.findings.map((f) => f.check).sort()).toEqual(['dhcp', 'firmware']); // dhcp: no site DHCP server in this namespace
      expect(r.report.findings.find((f) => f.check === 'firmware')!.problem).toMatch(new RegExp(`^${mac} sent \\d+ DISCOVERs since .* and never followed our ProxyDHCP offer$`));
      expect(r.text).toMatch(new RegExp(`^firmware: ${mac} sent .* → its firmware ignores ProxyDHCP`, 'm'));
      // Once that machine fetches a boot file over TFTP (its MAC from the server's neighbour table), it is no longer named.
      const healthz = async () => JSON.parse((await lan.exec('site', 'curl', ['-sS', 'http://10.84.0.1:8080/healthz'])).all) as { ignoringOffers: { mac: string }[] };
      expect((await healthz()).ignoringOffers.map((i) => i.mac)).toEqual([mac]);
      await lan.exec('site', 'tftp', ['-m', 'binary', '10.84.0.1', '-c', 'get', 'undionly.kpxe', join(dir, 'fetched.kpxe')]);
      await served.waitFor('tftp.done');
      expect((await healthz()).ignoringOffers).toEqual([]);
    } finally {
      await served.stop();
    }
  });
});
