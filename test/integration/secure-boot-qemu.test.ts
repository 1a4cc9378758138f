/**
 * Secure Boot enforced, as on a server bought in the last years: OVMF's
 * secboot firmware (q35, SMM) with Microsoft's keys enrolled, a real
 * network boot against the real service.
 *
 * Full mode, one VM booted twice: told to boot iPXE (the host's own rule),
 * the firmware refuses it ("Access Denied"), the reason the signed chain
 * exists; then on the server's default (the signed chain in full mode) shim
 * and GRUB boot, GRUB reads its configuration from this server, shows the
 * menu and its default entry (the shell) loads the kernel.
 *
 * Proxy mode, the Secure Boot drill beside dnsmasq as the site's DHCP server
 * (which names netrestore as next-server: Debian's signed GRUB asks that
 * server, never the ProxyDHCP one): Debian's kernel and our initrd boot,
 * the environment reports Secure Boot on with the kernel locked down, and a disk that boots under Secure Boot is restored over the signed chain
 * and boots again with Secure Boot enforced.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLan, netnsAvailable, type Lan } from '../../src/drill/netns.ts';
import type { DrillResult } from '../../src/drill/report.ts';
import { buildTestImage, TEST_MARKER } from '../../src/drill/test-image.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { OVMF_CODE_SECBOOT, OVMF_VARS_MS, qemuAvailable, startVm, type Vm } from '../../src/drill/vm.ts';
import { DIST, ensureBootEnv } from '../helpers/boot-env.ts';
import type { LogEvent } from '../../src/log.ts';

const PASSWORD = 'secure-boot-test-pw';
/** GRUB asks for /grub/grub.cfg, shim for grubx64.efi: the name without a leading /. */
const fileOf = (e: LogEvent) => String(e.file).replace(/^\/+/, '');
const canRun = netnsAvailable() && qemuAvailable() && existsSync(OVMF_CODE_SECBOOT) && existsSync(OVMF_VARS_MS) && existsSync('/usr/lib/shim/shimx64.efi.signed');

describe.runIf(canRun)('Secure Boot enforced (OVMF secboot, Microsoft keys)', () => {
  let lan: Lan | undefined;
  let served: Served | undefined;
  let vm: Vm | undefined;
  let dir: string;

  beforeAll(async () => {
    const r = await ensureBootEnv();
    expect(r.files['shimx64.efi']).toBeGreaterThan(500_000);
    expect(r.files['grubx64.efi']).toBeGreaterThan(1_000_000);
    expect(r.secureBoot.kernelSigners.some((n) => n.includes('Debian Secure Boot'))).toBe(true);
    expect(r.secureBoot.unsignedModules).toEqual([]);
  }, 1_200_000);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nr-sb-'));
    chmodSync(dir, 0o755);
  });
  afterEach(async () => {
    await vm?.stop();
    await served?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const serveArgs = (state: string) => ['--http-port', '8080', '--boot-dir', DIST, '--images', join(dir, 'store'), '--state', state, '--menu-timeout', '2', '--menu-default', 'shell', '--menu-password', PASSWORD, '--log-level', 'debug'];

  /**
   * shim, GRUB, its configuration from this server, and GRUB's menu taking its default (the shell):
   * up to GRUB loading the kernel. The kernel under Secure Boot is the drill's to show (below): GRUB
   * loads the 40 MB initrd over TFTP at about 0.2 MB/s under TCG, minutes a second run would add.
   */
  async function signedChainToKernel(v: Vm, s: Served, mac: string, t0: number): Promise<void> {
    await s.waitFor('tftp.done', (e) => fileOf(e) === 'shimx64.efi', 300_000);
    await s.waitFor('tftp.done', (e) => fileOf(e) === 'grubx64.efi', 120_000);
    await s.waitFor('tftp.done', (e) => fileOf(e) === 'grub/grub.cfg', 120_000);
    await s.waitFor('tftp.done', (e) => fileOf(e) === `grub/hosts/${mac}.cfg`, 60_000);
    await v.waitFor(/Booting `Restore shell/, 120_000);
    await s.waitFor('tftp.done', (e) => fileOf(e) === 'vmlinuz', 300_000);
    console.log(`secure-boot: signed chain (full mode), power-on to GRUB's kernel download ${((performance.now() - t0) / 1000).toFixed(0)} s (TCG)`);
  }

  it('full mode: told to boot iPXE, the firmware refuses it; by the server\'s default, the signed chain: shim, GRUB, its menu, its default entry loads the kernel', async () => {
    lan = await createLan({ srv: '10.86.0.1/24' }, { name: 'sb' });
    const state = join(dir, 'state.db');
    const mac = '52:54:00:86:00:01';
    // No --uefi-boot: in full mode the server's default is the signed chain.
    served = await startServe(['--dhcp', 'full', '--pool', '10.86.0.100-10.86.0.120', ...serveArgs(state)], { ns: lan.ns('srv') });
    await served.waitFor('dhcp.listening');
    expect(served.events.find((e) => e.event === 'dhcp.listening')?.uefiBoot).toBe('shim');
    const tap = await lan.addTap('tap0');

    // 1. This host is told to boot iPXE: the firmware will not run it.
    await execa(BIN, ['hosts', 'add', mac, '--uefi-boot', 'ipxe', '--state', state]);
    let t0 = performance.now();
    vm = startVm({ ns: lan.bridgeNs, tap, mac, firmware: 'uefi-secureboot', workDir: dir, memoryMiB: 1024 });
    await vm.waitFor(/Access Denied/, 300_000);
    console.log(`secure-boot: iPXE refused by the firmware after ${((performance.now() - t0) / 1000).toFixed(0)} s (TCG)`);
    expect(served.events.some((e) => e.event === 'dhcp.reply' && e.mac === mac && e.file === 'snponly.efi')).toBe(true);
    await vm.stop();

    // 2. Back to the server's rule: the same machine boots the signed chain.
    await execa(BIN, ['hosts', 'add', mac, '--uefi-boot', 'default', '--state', state]);
    const seen = served.events.length;
    t0 = performance.now();
    vm = startVm({ ns: lan.bridgeNs, tap, mac, firmware: 'uefi-secureboot', workDir: dir, memoryMiB: 1024 });
    await signedChainToKernel(vm, served, mac, t0);
    const after = served.events.slice(seen);
    expect(after.some((e) => e.event === 'dhcp.reply' && e.mac === mac && e.file === 'shimx64.efi')).toBe(true);
    expect(after.some((e) => e.event === 'boot.decision' && e.mac === mac && e.chain === 'grub' && e.plan === 'menu')).toBe(true);
  }, 1_200_000);

  it('`netrestore drill --firmware uefi-secureboot`, proxy mode beside dnsmasq naming netrestore as next-server: the environment reports Secure Boot on, and a Secure-Boot-bootable disk is restored over the signed chain and boots with Secure Boot still enforced', async () => {
    const report = await ensureBootEnv();
    const disk = join(dir, 'drill-test-sb.raw');
    await buildTestImage(disk, { vmlinuz: `/boot/vmlinuz-${report.kernelVersion}`, secureBoot: true });
    const store = join(dir, 'store');
    await execa(BIN, ['publish', disk, '--name', 'drill-test-sb', '--description', 'shim, GRUB and a signed kernel on its ESP', '--images', store]);
    const xml = join(dir, 'drill.xml');
    const r = await execa(BIN, ['drill', '--json', '--image', 'drill-test-sb', '--images', store, '--boot-dir', DIST, '--firmware', 'uefi-secureboot', '--mode', 'proxy',
      '--expect', `${TEST_MARKER}.*secure-boot=1`, '--report', xml], { reject: false, timeout: 1_100_000, env: { TMPDIR: dir } });
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as DrillResult & { summary: string };
    console.log(`secure-boot drill: ${result.summary}`);
    expect(result.ok, `${result.summary}\n${r.stderr}\n${result.console?.slice(-3000)}`).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(result.firmware).toBe('uefi-secureboot');
    // Over the signed chain: shim and GRUB were fetched before the environment, never iPXE.
    expect(result.milestones['tftp shimx64.efi']).toBeLessThan(result.milestones['task-started']!);
    expect(Object.keys(result.milestones).some((k) => k.includes('snponly'))).toBe(false);
    // GRUB found its configuration on netrestore (the site server's next-server), not on the site's DHCP server.
    const grubCfg = Object.entries(result.milestones).find(([k]) => /^tftp \/*grub\/grub\.cfg$/.test(k))?.[1];
    expect(grubCfg).toBeLessThan(result.milestones['task-started']!);
    expect(result.phases.find((p) => p.name === 'pxe-to-agent')?.detail).toMatch(/the environment reported Secure Boot on \(kernel lockdown: integrity\)/);
    expect(readFileSync(xml, 'utf8')).toMatch(/<testsuite name="netrestore drill drill-test-sb[^"]*" tests="5" failures="0"/);
  }, 1_200_000);
});
