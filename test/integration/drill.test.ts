/**
 * `netrestore drill` end to end, as CI and an admin run it: real iPXE in
 * qemu (TCG), the project's DHCP, TFTP, HTTP, menus, the restore
 * environment from build-env, the agent, and a boot of the restored disk.
 */
import { execa } from 'execa';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillResult } from '../../src/drill/report.ts';
import { BIN } from '../../src/drill/service.ts';
import { TEST_MARKER } from '../../src/drill/test-image.ts';
import { qemuAvailable } from '../../src/drill/vm.ts';
import { netnsAvailable } from '../../src/drill/netns.ts';
import { chunkPath, parseManifest } from '../../src/shared/format.ts';
import { ensureBootEnv, publishTestImage } from '../helpers/boot-env.ts';

const canDrill = netnsAvailable() && qemuAvailable() && existsSync('/bin/busybox') && existsSync('/usr/bin/syslinux') && existsSync('/lib/modules');

/**
 * Where drills keep their work directories (TMPDIR): the test's own, so
 * that what a drill leaves behind is told apart from other drills' on a
 * shared machine.
 */
let scratch = '';

/** What the drill with process id `pid` could leave behind: namespaces, qemu processes, work directories. */
async function leftovers(pid: number | undefined): Promise<string[]> {
  if (pid === undefined) throw new Error('the drill did not start');
  const mine = new RegExp(`^nrdrill${pid % 100000}\\d+-`);
  const ns = (await execa('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => mine.test(n));
  const qemu = (await execa('pgrep', ['-f', `${scratch}/netrestore-drill-`], { reject: false })).stdout.split('\n').filter(Boolean);
  const dirs = readdirSync(scratch).filter((d) => d.startsWith('netrestore-drill-'));
  return [...ns.map((n) => `namespace ${n}`), ...qemu.map((p) => `process ${p}`), ...dirs.map((d) => `directory ${d}`)];
}

const drillEnv = () => ({ TMPDIR: scratch });

async function drill(args: string[]): Promise<{ exitCode: number; result: DrillResult & { summary: string }; stderr: string; pid: number | undefined }> {
  const p = execa(BIN, ['drill', '--json', ...args], { reject: false, timeout: 900_000, env: drillEnv() });
  const r = await p;
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`drill printed no result (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  return { exitCode: r.exitCode ?? -1, result: JSON.parse(line) as DrillResult & { summary: string }, stderr: r.stderr, pid: p.pid };
}

describe.runIf(canDrill)('restore drills in VMs', () => {
  let dir: string;
  let store: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nr-drilltest-'));
    chmodSync(dir, 0o755);
    scratch = join(dir, 'tmp');
    mkdirSync(scratch);
    store = await publishTestImage(dir, await ensureBootEnv());
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // With `--tls`: iPXE fetches script, kernel and initrd over plain HTTP, and the agent reaches the
  // API only over HTTPS (the plain port refuses it), pinned to the fingerprint on its command line.
  it('BIOS, netrestore as the DHCP server, API over HTTPS only: PXE, restore, the restored disk boots, the checksum matches, nothing is left', async () => {
    const report = join(dir, 'bios.xml');
    const { exitCode, result, stderr, pid } = await drill(['--tls', '--image', 'drill-test', '--images', store, '--expect', TEST_MARKER, '--report', report]);
    expect(result.ok, `${result.summary}\n${stderr}`).toBe(true);
    expect(exitCode).toBe(0);
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual([
      ['network', true],
      ['pxe-to-agent', true],
      ['restore', true],
      ['boot-restored-disk', true],
      ['checksum', true],
    ]);
    expect(result.summary).toMatch(/^drill drill-test bios\/full: PASS: PXE to agent [\d.]+ s, restore [\d.]+ s \(40\.0 MiB, [\d.]+ [KM]iB\/s\), boot of the restored disk [\d.]+ s, checksum ok$/);
    // The service saw each step, in order.
    const m = result.milestones;
    expect(m['firmware-dhcp']).toBeLessThan(m['boot-script']!);
    expect(m['boot-script']).toBeLessThan(m['environment-dhcp']!);
    expect(m['environment-dhcp']).toBeLessThan(m['task-started']!);
    expect(m['task-started']).toBeLessThan(m['task-done']!);
    const xml = readFileSync(report, 'utf8');
    expect(xml).toMatch(/<testsuite name="netrestore drill drill-test \(bios, full\)" tests="5" failures="0"/);
    expect(xml).toContain(`${TEST_MARKER} on `);
    expect(await leftovers(pid)).toEqual([]);
  }, 900_000);

  it("BIOS, typed (--interactive): a person's keys on the serial console, a wrong password refused, Enter alone goes back, the restored disk boots and matches, one testcase a step", async () => {
    const report = join(dir, 'typed.xml');
    const { exitCode, result, stderr, pid } = await drill(['--interactive', '--image', 'drill-test', '--images', store, '--expect', TEST_MARKER, '--report', report]);
    expect(result.ok, `${result.summary}\n${stderr}`).toBe(true);
    expect(exitCode).toBe(0);
    expect(result.kind).toBe('typed');
    const typed = ['menu-choose-image', 'login-wrong-password', 'login-refused', 'menu-comes-back', 'login', 'choose-disk', 'disk-name-enter-alone', 'disks-come-back', 'type-disk-name', 'restore', 'enter-reboots'];
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual(['network', ...typed, 'boot-restored-disk', 'checksum'].map((n) => [n, true]));
    const detail = (n: string) => result.phases.find((p) => p.name === n)!.detail;
    expect(detail('login-refused')).toContain('the service logged boot.login-failed');
    expect(detail('login')).toContain('<hidden>');
    expect(detail('choose-disk')).toContain('no typed password on the screen');
    expect(detail('disks-come-back')).toContain('the disk is still blank');
    expect(detail('type-disk-name')).toMatch(/pressed vda <Enter>$/);
    expect(detail('enter-reboots')).toContain('the VM rebooted');
    expect(result.summary).toMatch(/^drill drill-test bios\/full typed: PASS: 11 typed steps [\d.]+ s \(restore [\d.]+ s\), boot of the restored disk [\d.]+ s, checksum ok$/);
    const xml = readFileSync(report, 'utf8');
    expect(xml).toMatch(/<testsuite name="netrestore drill drill-test \(bios, full, typed\)" tests="14" failures="0"/);
    for (const n of typed) expect(xml).toContain(`name="${n}" time=`);
    expect(await leftovers(pid)).toEqual([]);
  }, 900_000);

  it('BIOS, capture: the VM\'s disk captured under a task equals the image it became; a second capture of the unchanged disk stores under 1 %', async () => {
    const report = join(dir, 'capture.xml');
    const { exitCode, result, stderr, pid } = await drill(['--capture', '--image', 'drill-test', '--images', store, '--report', report]);
    expect(result.ok, `${result.summary}\n${stderr}`).toBe(true);
    expect(exitCode).toBe(0);
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual(['network', 'pxe-to-agent', 'capture', 'reboot', 'checksum', 'second-capture', 'second-capture-sends-little'].map((n) => [n, true]));
    const source = parseManifest(readFileSync(join(store, 'manifests/drill-test.json'), 'utf8'), 'test');
    // The whole disk, hashed: the captured image is the disk the VM booted with.
    expect(result.phases.find((p) => p.name === 'checksum')!.detail).toBe(`sha256 ${source.sha256} = image drill-capture-1`);
    const [first, second] = result.captures!;
    // The first capture into an empty store sends the disk's data (the test disk holds a kernel: megabytes); the second, under 1 %.
    expect(first!.stored).toBeGreaterThan(1024 * 1024);
    expect(second!.stored).toBeLessThan(0.01 * source.source.size);
    expect(result.phases.find((p) => p.name === 'reboot')!.detail).toMatch(/the agent said "Read 40\.0 MiB; sent .* new chunks, \d+ the server had\)"/);
    expect(result.summary).toMatch(/^drill drill-test bios\/full capture: PASS: PXE to agent [\d.]+ s, capture [\d.]+ s \(40\.0 MiB, [\d.]+ MiB stored\), image = disk, second capture [\d.]+ (B|KiB) stored \(0\.\d+ % of the disk\)$/);
    expect(readFileSync(report, 'utf8')).toMatch(/<testsuite name="netrestore drill drill-test \(bios, full, capture\)" tests="7" failures="0"/);
    // The admin's store gained nothing: the captures went to the drill's own.
    expect(readdirSync(join(store, 'manifests'))).toEqual(['drill-test.json']);
    expect(await leftovers(pid)).toEqual([]);
  }, 900_000);

  it('says in one line what to do when the environment is not built or the image does not exist', async () => {
    const noEnvP = execa(BIN, ['drill', '--image', 'drill-test', '--images', store, '--boot-dir', join(dir, 'nothing-here')], { reject: false, env: drillEnv() });
    const noEnv = await noEnvP;
    expect(noEnv.exitCode).toBe(1);
    expect(noEnv.stderr.trim()).toMatch(/^netrestore: .*nothing-here lacks vmlinuz, initrd\.img, undionly\.kpxe: run `netrestore build-env` first$/);
    const noImageP = execa(BIN, ['drill', '--image', 'no-such-image', '--images', store], { reject: false, env: drillEnv() });
    const noImage = await noImageP;
    expect(noImage.exitCode).toBe(1);
    expect(noImage.stderr.trim()).toMatch(/^netrestore: no image named no-such-image in .*store: see `netrestore images list/);
    expect(await leftovers(noEnvP.pid)).toEqual([]);
    expect(await leftovers(noImageP.pid)).toEqual([]);
  });

  it('UEFI (OVMF) through snponly.efi: the same drill passes, the restored disk boots its own EFI loader', async () => {
    const { exitCode, result, stderr, pid } = await drill(['--image', 'drill-test', '--images', store, '--firmware', 'uefi', '--expect', TEST_MARKER]);
    expect(result.ok, `${result.summary}\n${stderr}`).toBe(true);
    expect(exitCode).toBe(0);
    expect(result.milestones['tftp snponly.efi']).toBeLessThan(result.milestones['boot-script']!);
    expect(await leftovers(pid)).toEqual([]);
  }, 900_000);

  it('interrupted (Ctrl-C) while the VM boots: exits 130 and removes namespaces, qemu and files', async () => {
    const p = execa(BIN, ['drill', '--image', 'drill-test', '--images', store, '--expect', TEST_MARKER], { reject: false, all: true, env: drillEnv() });
    await new Promise<void>((resolve, reject) => {
      let text = '';
      p.all!.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('pxe-to-agent…')) resolve();
      });
      void p.then(() => reject(new Error(`drill ended before the VM started:\n${text}`)));
    });
    await new Promise((r) => setTimeout(r, 5000)); // qemu is up, the service answers
    expect(await leftovers(p.pid)).not.toEqual([]);
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode).toBe(130);
    expect(r.all).toContain('SIGINT: removing the drill');
    expect(await leftovers(p.pid)).toEqual([]);
  }, 120_000);

  it("a damaged image, proxy mode beside dnsmasq: the drill fails with the agent's own error in the report, and nothing is left", async () => {
    const damaged = join(dir, 'damaged');
    cpSync(store, damaged, { recursive: true });
    const manifest = parseManifest(readFileSync(join(damaged, 'manifests/drill-test.json'), 'utf8'), 'test');
    const victim = manifest.chunks.find((h) => h !== null)!;
    const path = join(damaged, chunkPath(victim));
    writeFileSync(path, Buffer.alloc(readFileSync(path).length, 0x5a));

    const report = join(dir, 'damaged.xml');
    const { exitCode, result, pid } = await drill(['--image', 'drill-test', '--images', damaged, '--mode', 'proxy', '--expect', TEST_MARKER, '--report', report, '--timeout', '600']);
    expect(exitCode).toBe(1);
    expect(result.ok).toBe(false);
    const restore = result.phases.find((p) => p.name === 'restore')!;
    expect(restore.ok).toBe(false);
    expect(restore.error).toMatch(/the agent reported: image drill-test: chunk \d+ .*failed its check twice.*the image on the server is damaged/);
    expect(result.phases.map((p) => p.name)).not.toContain('boot-restored-disk');
    expect(result.summary).toMatch(/FAIL: PXE to agent [\d.]+ s, restore FAILED: the agent reported/);
    const xml = readFileSync(report, 'utf8');
    expect(xml).toMatch(/<testcase classname="netrestore.drill.drill-test" name="restore" time="[\d.]+">\s*<failure message="the agent reported: image drill-test: chunk/);
    expect(await leftovers(pid)).toEqual([]);
  }, 900_000);
});
