/**
 * Full DHCP mode against real clients (busybox udhcpc, ISC dhclient) inside
 * network namespaces made and removed by this test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { startServe, type Served } from '../../src/drill/service.ts';
import { openState } from '../../src/state/db.ts';
import { HostStore } from '../../src/state/hosts.ts';

const POOL = '10.77.0.100-10.77.0.119';

describe.runIf(netnsAvailable())('full DHCP mode with udhcpc and dhclient', () => {
  let lan: Lan;
  let served: Served;
  const dir = mkdtempSync(join(tmpdir(), 'nr-dhcp-full-'));
  const state = join(dir, 'state.db');
  const serveArgs = ['--dhcp', 'full', '--pool', POOL, '--router', '10.77.0.1', '--dns', '10.77.0.53', '--tftp-port', 'off', '--http-port', 'off', '--state', state];

  beforeAll(async () => {
    lan = await createLan({ srv: '10.77.0.1/24', a: null, b: null });
    served = await startServe(serveArgs, { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
  });
  afterAll(async () => {
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const udhcpc = async (host: string) => {
    const r = await lan.exec(host, 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true']);
    const m = /lease of ([\d.]+) obtained from ([\d.]+), lease time (\d+)/.exec(r.all ?? '');
    expect(m, r.all).not.toBeNull();
    return { ip: m![1]!, server: m![2]!, leaseTime: Number(m![3]) };
  };

  it('gives udhcpc an address from the pool with the configured lease time', async () => {
    const l = await udhcpc('a');
    expect(l.ip).toBe('10.77.0.100');
    expect(l.server).toBe('10.77.0.1');
    expect(l.leaseTime).toBe(3600);
    await served.waitFor('dhcp.reply', (e) => e.type === 'ACK' && e.ip === '10.77.0.100');
  });

  it('gives dhclient a different address, with router and DNS, and takes its RELEASE', async () => {
    // A script that prints what dhclient learnt, instead of configuring the interface.
    const script = join(dir, 'dhclient-script');
    const { writeFileSync, chmodSync } = await import('node:fs');
    writeFileSync(script, '#!/bin/sh\necho "reason=$reason ip=$new_ip_address routers=$new_routers dns=$new_domain_name_servers mask=$new_subnet_mask"\n');
    chmodSync(script, 0o755);
    const args = ['-v', '-1', '-sf', script, '-lf', join(dir, 'dhclient.leases'), '-pf', join(dir, 'dhclient.pid'), 'eth0'];
    const r = await lan.exec('b', 'dhclient', args);
    expect(r.all).toMatch(/reason=BOUND ip=10\.77\.0\.101 routers=10\.77\.0\.1 dns=10\.77\.0\.53 mask=255\.255\.255\.0/);
    await lan.exec('b', 'dhclient', ['-r', ...args]);
  });

  it('gives no answer to a host the admin marked ignore', async () => {
    const mac = (await lan.exec('b', 'cat', ['/sys/class/net/eth0/address'])).all.trim();
    const db = openState(state); // the same database file serve has open (WAL)
    new HostStore(db).upsert({ mac, name: 'do-not-boot', ignore: true });
    db.close();
    const r = await lan.exec('b', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true'], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.all).not.toMatch(/lease of/);
  });

  it('keeps leases across a restart of the service', async () => {
    await served.stop();
    served = await startServe(serveArgs, { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    expect((await udhcpc('a')).ip).toBe('10.77.0.100');
  });
});

describe.runIf(netnsAvailable())('full DHCP mode on a machine with two networks', () => {
  let office: Lan;
  let isolated: Lan;
  let served: Served;
  const dir = mkdtempSync(join(tmpdir(), 'nr-dhcp-iface-'));

  beforeAll(async () => {
    // The server sits on the isolated restore network (srv/eth0) and, through a
    // second veth, on an "office" LAN where it must never hand out addresses.
    isolated = await createLan({ srv: '10.78.0.1/24', client: null }, { name: 'i' });
    office = await createLan({ pc: null }, { name: 'o' });
    const { execa } = await import('execa');
    await execa('ip', ['-n', office.bridgeNs, 'link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'office0', 'netns', isolated.ns('srv')]);
    await execa('ip', ['-n', office.bridgeNs, 'link', 'set', 'up1', 'master', 'br0', 'up']);
    await execa('ip', ['-n', isolated.ns('srv'), 'addr', 'add', '192.168.50.2/24', 'dev', 'office0']);
    await execa('ip', ['-n', isolated.ns('srv'), 'link', 'set', 'office0', 'up']);
  });
  afterAll(async () => {
    await served?.stop();
    await office?.destroy();
    await isolated?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses full mode without --interface, with a message that says so', async () => {
    const s = await startServe(['--dhcp', 'full', '--pool', '10.78.0.100-10.78.0.110', '--server-ip', '10.78.0.1', '--tftp-port', 'off', '--http-port', 'off', '--state', join(dir, 's.db')], { ns: isolated.ns('srv') });
    const r = await s.proc;
    expect(r.exitCode).toBe(1);
    expect(s.text()).toMatch(/^netrestore: full DHCP on a machine with several networks needs --interface NAME/);
  });

  it('answers on --interface only', async () => {
    served = await startServe(['--dhcp', 'full', '--interface', 'eth0', '--pool', '10.78.0.100-10.78.0.110', '--tftp-port', 'off', '--http-port', 'off', '--state', join(dir, 's.db')], { ns: isolated.ns('srv') });
    await served.waitFor('dhcp.listening', (e) => e.interface === 'eth0');
    const office_ = await office.exec('pc', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true'], { reject: false });
    expect(office_.exitCode).not.toBe(0);
    expect(office_.all).not.toMatch(/lease of/);
    const ok = await isolated.exec('client', 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true']);
    expect(ok.all).toMatch(/lease of 10\.78\.0\.100 obtained from 10\.78\.0\.1/);
  });
});
