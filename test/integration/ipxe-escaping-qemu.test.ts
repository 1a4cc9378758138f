/**
 * Escaping checked by the real client: iPXE (qemu's BIOS ROM) runs the menu
 * rendered with a title and an image description full of iPXE syntax. The
 * text shows on the console as text (no setting expanded, no command run),
 * and the script still runs to its end: the default boots the local disk.
 */
import { execa } from 'execa';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import { qemuAvailable, startVm, type Vm } from '../../src/drill/vm.ts';

describe.runIf(netnsAvailable() && qemuAvailable())('iPXE runs an escaped menu', () => {
  let lan: Lan | undefined;
  let served: Served | undefined;
  let vm: Vm | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'nr-sf-ipxe-'));
  afterAll(async () => {
    await vm?.stop();
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hostile title and description: shown as text, nothing expanded, the default still boots the local disk', async () => {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'tiny.raw'), Buffer.alloc(1024 * 1024, 1));
    const store = join(dir, 'store');
    const pub = await execa(BIN, ['publish', join(dir, 'tiny.raw'), '--name', 'tiny', '--description', 'D-${net0/ip}-E || reboot ; #x \\', '--images', store], { reject: false, all: true });
    expect(pub.exitCode, pub.all).toBe(0);
    lan = await createLan({ srv: '10.213.0.1/24' }, { name: 'sf' });
    served = await startServe(['--dhcp', 'full', '--interface', 'eth0', '--pool', '10.213.0.100-10.213.0.120', '--http-port', '8080', '--boot-dir', dir, '--images', store, '--state', join(dir, 'state.db'), '--menu-timeout', '3', '--menu-title', 'T-${net0/mac}-E || reboot', '--admin-token', 'sf-ipxe-admin-token', '--log-level', 'debug'], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    const tap = await lan.addTap('tap0');
    vm = startVm({ ns: lan.bridgeNs, tap, mac: '52:54:00:21:30:01', firmware: 'bios', workDir: dir });
    await vm.waitFor(/Filename: http:\/\/10\.213\.0\.1:8080\/boot\.ipxe/, 180_000).catch((err: Error) => {
      throw new Error(`${err.message}\nserve said: ${JSON.stringify(served!.events.filter((e) => /^(dhcp|serve|http\.listening)/.test(e.event)).slice(-20))}`);
    });
    await vm.waitFor(/Booting from local disk/, 120_000);
    await vm.waitFor(/Booting from Hard Disk|No bootable device/, 60_000);
    const screen = vm.console();
    // What the menu showed: the words, without the syntax around them.
    expect(screen).toContain('T-net0/mac-E reboot');
    expect(screen).toContain('D-net0/ip-E reboot x');
    // Nothing expanded: no address or MAC where the settings were.
    expect(screen).not.toMatch(/D-10\.213\.0\.\d+-E/);
    expect(screen).not.toMatch(/T-52:54:00:21:30:01-E/);
  }, 420_000);
});
