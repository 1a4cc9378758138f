/**
 * `netrestore drill --disk data-btrfs --target-size 2x` end to end: a GPT
 * disk whose last (only) partition is btrfs is published, PXE-booted into
 * the restore environment in qemu (BIOS, TCG) and restored onto a blank disk
 * twice its size; the environment has no btrfs driver or tool of its own,
 * so the agent fetches the btrfs add-on from the service, checks it, loads
 * its modules and grows the filesystem. Checked on this machine: the
 * filesystem fills the partition, `btrfs check` is clean, every file reads
 * back as made.
 *
 * One VM run: btrfs rather than XFS because it proves more of the add-on in
 * the same time (eight modules with their softdeps against XFS's three, a
 * tool with three libraries from the add-on against one) and its disk is
 * half the size (mkfs.xfs wants 300 MB). `drill --disk data-xfs` runs the
 * same for XFS.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillResult } from '../../src/drill/report.ts';
import { BIN } from '../../src/drill/service.ts';
import { qemuAvailable } from '../../src/drill/vm.ts';
import { netnsAvailable } from '../../src/drill/netns.ts';
import { ensureBootEnv } from '../helpers/boot-env.ts';

const canDrill = netnsAvailable() && qemuAvailable() && existsSync('/bin/busybox') && existsSync('/usr/sbin/mkfs.btrfs') && existsSync('/lib/modules');

describe.runIf(canDrill)('a btrfs disk restored onto a larger disk in a VM, grown through the add-on', () => {
  let dir: string;
  let scratch: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nr-drilladdon-'));
    chmodSync(dir, 0o755);
    scratch = join(dir, 'tmp');
    mkdirSync(scratch);
    await ensureBootEnv();
  }, 1_800_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
