/**
 * `netrestore drill` end to end, as CI and an admin run it: real iPXE in
 * qemu (TCG), the project's DHCP, TFTP, HTTP, menus, the restore
 * environment from build-env, the agent, and a boot of the restored disk.
 */
import { execa } from 'execa';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

/** What a drill could leave behind: namespaces, qemu processes, work directories. */
async function leftovers(): Promise<string[]> {
  const ns = (await execa('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('nrdrill'));
  const qemu = (await execa('pgrep', ['-f', 'netrestore-drill-'], { reject: false })).stdout.split('\n').filter(Boolean);
  const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith('netrestore-drill-'));
  return [...ns.map((n) => `namespace ${n}`), ...qemu.map((p) => `process ${p}`), ...dirs.map((d) => `directory ${d}`)];
}

async function drill(args: string[]): Promise<{ exitCode: number; result: DrillResult & { summary: string }; stderr: string }> {
  const r = await execa(BIN, ['drill', '--json', ...args], { reject: false, timeout: 900_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`drill printed no result (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  return { exitCode: r.exitCode ?? -1, result: JSON.parse(line) as DrillResult & { summary: string }, stderr: r.stderr };
}

describe.runIf(canDrill)('restore drills in VMs', () => {
  let dir: string;
  let store: string;
  beforeAll(async () => {
    expect(await leftovers()).toEqual([]);
    dir = mkdtempSync(join(tmpdir(), 'nr-drilltest-'));
    store = await publishTestImage(dir, await ensureBootEnv());
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('BIOS, netrestore as the DHCP server: PXE, restore, the restored disk boots, the checksum matches, nothing is left', async () => {
    const report = join(dir, 'bios.xml');
    const { exitCode, result, stderr } = await drill(['--image', 'drill-test', '--images', store, '--expect', TEST_MARKER, '--report', report]);
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
    expect(await leftovers()).toEqual([]);
  }, 900_000);

  it('says in one line what to do when the environment is not built or the image does not exist', async () => {
    const noEnv = await execa(BIN, ['drill', '--image', 'drill-test', '--images', store, '--boot-dir', join(dir, 'nothing-here')], { reject: false });
    expect(noEnv.exitCode).toBe(1);
    expect(noEnv.stderr.trim()).toMatch(/^netrestore: .*nothing-here lacks vmlinuz, initrd\.img, undionly\.kpxe: run `netrestore build-env` first$/);
    const noImage = await execa(BIN, ['drill', '--image', 'no-such-image', '--images', store], { reject: false });
    expect(noImage.exitCode).toBe(1);
    expect(noImage.stderr.trim()).toMatch(/^netrestore: no image named no-such-image in .*store: see `netrestore images list/);
    expect(await leftovers()).toEqual([]);
  });

  it('UEFI (OVMF) through snponly.efi: the same drill passes, the restored disk boots its own EFI loader', async () => {
    const { exitCode, result, stderr } = await drill(['--image', 'drill-test', '--images', store, '--firmware', 'uefi', '--expect', TEST_MARKER]);
    expect(result.ok, `${result.summary}\n${stderr}`).toBe(true);
    expect(exitCode).toBe(0);
    expect(result.milestones['tftp snponly.efi']).toBeLessThan(result.milestones['boot-script']!);
    expect(await leftovers()).toEqual([]);
  }, 900_000);

  it('interrupted (Ctrl-C) while the VM boots: exits 130 and removes namespaces, qemu and files', async () => {
    const p = execa(BIN, ['drill', '--image', 'drill-test', '--images', store, '--expect', TEST_MARKER], { reject: false, all: true });
    await new Promise<void>((resolve, reject) => {
      let text = '';
      p.all!.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('pxe-to-agent…')) resolve();
      });
      void p.then(() => reject(new Error(`drill ended before the VM started:\n${text}`)));
    });
    await new Promise((r) => setTimeout(r, 5000)); // qemu is up, the service answers
    expect(await leftovers()).not.toEqual([]);
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode).toBe(130);
    expect(r.all).toContain('SIGINT: removing the drill');
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  it("a damaged image, proxy mode beside dnsmasq: the drill fails with the agent's own error in the report, and nothing is left", async () => {
    const damaged = join(dir, 'damaged');
    cpSync(store, damaged, { recursive: true });
    const manifest = parseManifest(readFileSync(join(damaged, 'manifests/drill-test.json'), 'utf8'), 'test');
    const victim = manifest.chunks.find((h) => h !== null)!;
    const path = join(damaged, chunkPath(victim));
    writeFileSync(path, Buffer.alloc(readFileSync(path).length, 0x5a));

    const report = join(dir, 'damaged.xml');
    const { exitCode, result } = await drill(['--image', 'drill-test', '--images', damaged, '--mode', 'proxy', '--expect', TEST_MARKER, '--report', report, '--timeout', '600']);
    expect(exitCode).toBe(1);
    expect(result.ok).toBe(false);
    const restore = result.phases.find((p) => p.name === 'restore')!;
    expect(restore.ok).toBe(false);
    expect(restore.error).toMatch(/the agent reported: image drill-test: chunk \d+ .*failed its check twice.*the image on the server is damaged/);
    expect(result.phases.map((p) => p.name)).not.toContain('boot-restored-disk');
    expect(result.summary).toMatch(/FAIL: PXE to agent [\d.]+ s, restore FAILED: the agent reported/);
    const xml = readFileSync(report, 'utf8');
    expect(xml).toMatch(/<testcase classname="netrestore.drill.drill-test" name="restore" time="[\d.]+">\s*<failure message="the agent reported: image drill-test: chunk/);
    expect(await leftovers()).toEqual([]);
  }, 900_000);
});
