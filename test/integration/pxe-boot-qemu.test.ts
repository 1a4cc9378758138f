/**
 * Real firmware against the real service: qemu VMs boot from the network
 * inside namespaces made by this test. BIOS: qemu's iPXE ROM, beside dnsmasq
 * acting as the site's DHCP server (netrestore in proxy mode). UEFI: OVMF's
 * own PXE client with netrestore as the only DHCP server (full mode), loading
 * iPXE (snponly.efi) over TFTP, which then fetches the boot script.
 */
import { execa, type ResultPromise } from 'execa';
import { BIN } from '../../src/drill/service.ts';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { qemuAvailable, startVm, type Vm } from '../../src/drill/vm.ts';
import { startServe, type Served } from '../../src/drill/service.ts';

const SCRIPT = '#!ipxe\necho NETRESTORE-SCRIPT-OK ip=${net0/ip} next=${next-server}\nsleep 600\n';

describe.runIf(netnsAvailable() && qemuAvailable())('PXE boot of qemu VMs', () => {
  let lan: Lan;
  let served: Served | undefined;
  let vm: Vm | undefined;
  let site: ResultPromise | undefined;
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nr-pxe-'));
    chmodSync(dir, 0o755);
    // boot.ipxe is the boot face's own script, rendered from the menu templates:
    // an admin's chain.ipxe.hbs (--menu-templates) makes it print what iPXE was given.
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates', 'chain.ipxe.hbs'), SCRIPT);
  });
  afterEach(async () => {
    await vm?.stop();
    await served?.stop();
    site?.kill();
    await site?.catch(() => undefined);
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('BIOS iPXE ROM beside dnsmasq: the site gives the address, netrestore the boot file over TFTP', async () => {
    lan = await createLan({ srv: '10.79.0.1/24', site: '10.79.0.2/24' }, { name: 'p' });
    site = execa('ip', ['netns', 'exec', lan.ns('site'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces',
      '--dhcp-range=10.79.0.100,10.79.0.150,255.255.255.0,1h', `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`], { reject: false, all: true });
    served = await startServe(['--dhcp', 'proxy', '--http-port', 'off', '--boot-dir', dir, '--menu-templates', join(dir, 'templates'), '--state', join(dir, 'state.db')], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    const tap = await lan.addTap('tap0');
    vm = startVm({ ns: lan.bridgeNs, tap, mac: '52:54:00:79:00:01', firmware: 'bios', workDir: dir });

    const m = await vm.waitFor(/NETRESTORE-SCRIPT-OK ip=([\d.]+) next=([\d.]+)\s/, 120_000);
    expect(m[1]).toMatch(/^10\.79\.0\.(1[0-4]\d|150)$/); // dnsmasq's range
    expect(vm.console()).toMatch(/Filename: tftp:\/\/10\.79\.0\.1\/boot\.ipxe/);
    const offer = await served.waitFor('dhcp.reply', (e) => e.mac === '52:54:00:79:00:01');
    expect(offer.ip).toBeUndefined(); // ProxyDHCP never hands out an address
    await served.waitFor('tftp.done', (e) => e.file === 'boot.ipxe');
  });

  it('UEFI (OVMF) PXE in full mode: address and snponly.efi from netrestore, then iPXE fetches the script', async () => {
    copyFileSync('/usr/lib/ipxe/snponly.efi', join(dir, 'snponly.efi'));
    lan = await createLan({ srv: '10.80.0.1/24' }, { name: 'u' });
    served = await startServe(['--dhcp', 'full', '--pool', '10.80.0.100-10.80.0.120', '--uefi-boot', 'ipxe', '--http-port', 'off', '--boot-dir', dir, '--menu-templates', join(dir, 'templates'), '--state', join(dir, 'state.db')], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    const tap = await lan.addTap('tap0');
    vm = startVm({ ns: lan.bridgeNs, tap, mac: '52:54:00:80:00:01', firmware: 'uefi', workDir: dir });

    const m = await vm.waitFor(/NETRESTORE-SCRIPT-OK ip=([\d.]+) next=([\d.]+)\s/, 240_000);
    expect(m[1]).toBe('10.80.0.100');
    expect(m[2]).toBe('10.80.0.1');
    const firmware = await served.waitFor('tftp.done', (e) => e.file === 'snponly.efi');
    expect(firmware.bytes).toBeGreaterThan(100_000);
    expect(served.events.some((e) => e.event === 'dhcp.reply' && e.arch === 7 && e.file === 'snponly.efi')).toBe(true);
    expect(served.events.some((e) => e.event === 'dhcp.reply' && e.ipxe === true && e.file === 'tftp://10.80.0.1/boot.ipxe')).toBe(true);
  });

  it('iPXE menu over HTTP: the default boots the local disk after the timeout; a task fetches kernel and initrd', async () => {
    copyFileSync('/usr/lib/ipxe/ipxe.lkrn', join(dir, 'vmlinuz')); // a real bzImage-format kernel file
    writeFileSync(join(dir, 'initrd.img'), 'initrd for the test');
    lan = await createLan({ srv: '10.82.0.1/24' }, { name: 'm' });
    const state = join(dir, 'state.db');
    served = await startServe(['--dhcp', 'full', '--pool', '10.82.0.100-10.82.0.120', '--http-port', '8080', '--boot-dir', dir, '--images', join(dir, 'store'), '--state', state, '--menu-timeout', '2', '--admin-token', 'qemu-menu-token', '--log-level', 'debug'], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    const tap = await lan.addTap('tap0');
    const mac = '52:54:00:82:00:01';
    vm = startVm({ ns: lan.bridgeNs, tap, mac, firmware: 'bios', workDir: dir });
    await vm.waitFor(/Filename: http:\/\/10\.82\.0\.1:8080\/boot\.ipxe/, 120_000);
    await vm.waitFor(/Booting from local disk/, 60_000);
    // iPXE gave the machine back to the BIOS, which went on to its disks.
    await vm.waitFor(/Booting from Hard Disk|No bootable device/, 60_000);
    expect((await served.waitFor('boot.decision', (e) => e.mac === mac)).plan).toBe('menu');
    await vm.stop();

    await execa(BIN, ['hosts', 'task', mac, 'restore', 'fs01', '--state', state]);
    vm = startVm({ ns: lan.bridgeNs, tap, mac, firmware: 'bios', workDir: dir });
    await served.waitFor('boot.decision', (e) => e.mac === mac && e.plan === 'task', 120_000);
    await served.waitFor('http.request', (e) => e.path === '/boot/vmlinuz', 60_000);
    await served.waitFor('http.request', (e) => e.path === '/boot/initrd.img', 60_000);
    // What the admin sees on the console: both files loaded by iPXE.
    await vm.waitFor(/\/boot\/vmlinuz\.\.\. ok/, 60_000);
    await vm.waitFor(/\/boot\/initrd\.img\.\.\. ok/, 60_000);
  }, 400_000);
});
