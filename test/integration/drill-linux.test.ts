/**
 * Grow drills end to end: a disk made here is published, PXE-booted into the
 * restore environment in qemu (BIOS, TCG) and restored onto a blank disk
 * twice its size.
 *   - `--disk linux-ext4`: a Linux disk (MBR, extlinux, the Debian kernel, an
 *     ext4 root as the last partition), booted after the restore: its root
 *     checks every file and fills the new disk; e2fsck finds nothing.
 *   - `--disk data-btrfs`: a GPT disk whose only partition is btrfs. The
 *     environment has no btrfs driver or tool of its own, so the agent fetches
 *     the btrfs add-on from the service, checks it, loads its modules and
 *     grows the filesystem; checked here: it fills the partition, `btrfs
 *     check` is clean, every file reads back as made. btrfs rather than XFS
 *     because it proves more of the add-on in one VM run (eight modules with
 *     their softdeps against three, a tool with three libraries against one)
 *     on half the disk; `drill --disk data-xfs` runs the same for XFS.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillResult } from '../../src/drill/report.ts';
import { BIN } from '../../src/drill/service.ts';
import { qemuAvailable } from '../../src/drill/vm.ts';
import { netnsAvailable } from '../../src/drill/netns.ts';
import { parseTargetSize } from '../../src/drill/grow-drill.ts';
import { ensureBootEnv } from '../helpers/boot-env.ts';

const canDrill = netnsAvailable() && qemuAvailable() && existsSync('/bin/busybox') && existsSync('/usr/bin/extlinux') && existsSync('/usr/sbin/mkfs.btrfs') && existsSync('/lib/modules');
const MiB = 1024 * 1024;

describe('the target size of a grow drill', () => {
  it('reads 2x and sizes, and refuses one not larger than the image', () => {
    expect(parseTargetSize('2x', 64 * MiB)).toBe(128 * MiB);
    expect(parseTargetSize('1.5x', 64 * MiB)).toBe(96 * MiB);
    expect(parseTargetSize('256M', 64 * MiB)).toBe(256 * MiB);
    expect(parseTargetSize('1G', 64 * MiB)).toBe(1024 * MiB);
    expect(() => parseTargetSize('64M', 64 * MiB)).toThrow(/not larger than the image's disk/);
    expect(() => parseTargetSize('big', 64 * MiB)).toThrow(/multiple of the image's disk \(2x\) or a size/);
  });
});

describe.runIf(canDrill)('disks restored onto larger disks in a VM', () => {
  let dir: string;
  let scratch: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nr-drilllinux-'));
    chmodSync(dir, 0o755);
    scratch = join(dir, 'tmp');
    mkdirSync(scratch);
    await ensureBootEnv();
  }, 1_800_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('BIOS: publish, PXE, restore onto 2x, the restored disk boots from its ext4 root, the root fills the disk, every file matches, e2fsck clean', async () => {
    const report = join(dir, 'linux.xml');
    const r = await execa(BIN, ['drill', '--json', '--disk', 'linux-ext4', '--target-size', '2x', '--report', report], { reject: false, timeout: 1_500_000, env: { TMPDIR: scratch } });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    expect(line.startsWith('{'), `${r.stdout}\n${r.stderr}`).toBe(true);
    const result = JSON.parse(line) as DrillResult & { summary: string };
    expect(result.ok, `${result.summary}\n${r.stderr}`).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(result.kind).toBe('grow');
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual(['network', 'pxe-to-agent', 'restore', 'boot-restored-disk', 'root-fills-disk', 'fsck'].map((n) => [n, true]));
    const detail = (n: string) => result.phases.find((p) => p.name === n)!.detail!;
    expect(detail('network')).toMatch(/drill-linux-ext4 \(64\.0 MiB\) onto a blank 128\.0 MiB disk/);
    expect(detail('boot-restored-disk')).toMatch(/NETRESTORE-ROOT-BYTES=\d+ FILES=ok/);
    expect(detail('root-fills-disk')).toMatch(/ends 0 B before the end of the 128\.0 MiB disk; ext4 127\.0 MiB; the booted system's root 1\d\d\.\d MiB \(statfs\), every file's SHA-256 as made/);
    expect(detail('fsck')).toMatch(/^e2fsck -fn: clean/);
    expect(result.summary).toMatch(/^drill drill-linux-ext4 bios\/full grow: PASS: PXE to agent [\d.]+ s, restore [\d.]+ s .*, boot of the restored disk [\d.]+ s, the root fills the larger disk, fsck clean$/);
    expect(readFileSync(report, 'utf8')).toMatch(/<testsuite name="netrestore drill drill-linux-ext4 \(bios, full, grow\)" tests="6" failures="0"/);
    // The disk, its store and the drill's work directory are gone; no loop device points into them.
    expect(readdirSync(scratch)).toEqual([]);
    expect((await execa('losetup', ['-a'])).stdout).not.toContain(dir);
  }, 1_800_000);

  it('BIOS: publish, PXE, restore onto 2x, the agent fetches the btrfs add-on and grows the filesystem; btrfs check clean, every file as made', async () => {
    const r = await execa(BIN, ['drill', '--json', '--disk', 'data-btrfs', '--target-size', '2x'], { reject: false, timeout: 1_500_000, env: { TMPDIR: scratch } });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    expect(line.startsWith('{'), `${r.stdout}\n${r.stderr}`).toBe(true);
    const result = JSON.parse(line) as DrillResult & { summary: string };
    expect(result.ok, `${result.summary}\n${r.stderr}`).toBe(true);
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual(['network', 'pxe-to-agent', 'restore', 'fs-fills-disk', 'fsck', 'files'].map((n) => [n, true]));
    const detail = (n: string) => result.phases.find((p) => p.name === n)!.detail!;
    expect(detail('network')).toMatch(/drill-data-btrfs \(160\.0 MiB\) onto a blank 320\.0 MiB disk/);
    // No warning from the agent: the add-on loaded and the filesystem grew.
    expect(detail('restore')).not.toMatch(/the agent said/);
    expect(detail('fs-fills-disk')).toMatch(/^partition ends 0 B before the end of the 320\.0 MiB disk's usable area; btrfs 319\.0 MiB on a 319\.0 MiB partition$/);
    expect(detail('fsck')).toMatch(/^btrfs check --readonly: clean/);
    expect(detail('files')).toBe('5 files read back with their SHA-256 as made');
    expect(result.summary).toMatch(/^drill drill-data-btrfs bios\/full grow: PASS: .*the filesystem fills the larger disk, fsck clean, files as made$/);
    expect(readdirSync(scratch)).toEqual([]);
    expect((await execa('losetup', ['-a'])).stdout).not.toContain(dir);
  }, 1_800_000);
});
