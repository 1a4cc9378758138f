import { describe, expect, it } from 'vitest';
import { btrfsShrinkTo, minimalLayout, ntfsShrinkTo, planMinimalForm, shrinkTool } from '../../src/images/minimal-form.ts';

const MiB = 1024 * 1024;

describe('planMinimalForm', () => {
  const table = (fs: string | undefined, type: 'gpt' | 'mbr' = 'gpt', ptype = '83') => ({
    type,
    partitions: [
      { index: 1, type: ptype, start: MiB, size: 8 * MiB, filesystem: 'vfat' },
      { index: 2, type: ptype, start: 9 * MiB, size: 100 * MiB, ...(fs ? { filesystem: fs } : {}) },
    ],
  });

  it('shrinks the last partition\'s ext filesystem with resize2fs -M after a check', () => {
    const p = planMinimalForm(table('ext4'));
    expect(p).toMatchObject({ action: 'shrink', index: 2, start: 9 * MiB });
    expect(p.action === 'shrink' && p.tool.runs.map((r) => r.argv.join(' '))).toEqual(['e2fsck -f -p {dev}', 'resize2fs -M {dev}']);
  });

  it('shrinks NTFS with ntfsresize: --info for the smallest size, a dry run, then the resize', () => {
    const p = planMinimalForm(table('ntfs'));
    if (p.action !== 'shrink' || p.tool.fs !== 'ntfs') throw new Error('no NTFS plan');
    expect(p.tool.probe.argv.join(' ')).toBe('ntfsresize --info --force {dev}');
    expect(p.tool.runs.map((r) => r.argv.join(' '))).toEqual(['ntfsresize --no-action --force --size {size} {dev}', 'ntfsresize --force --size {size} {dev}']);
  });

  it('shrinks btrfs while mounted: min-dev-size for the smallest size, the resize, then a read-only check', () => {
    const p = planMinimalForm(table('btrfs'));
    if (p.action !== 'shrink' || p.tool.fs !== 'btrfs') throw new Error('no btrfs plan');
    expect(p.tool.probe.argv.join(' ')).toBe('btrfs inspect-internal min-dev-size {mnt}');
    expect(p.tool.runs.map((r) => r.argv.join(' '))).toEqual(['btrfs filesystem resize {size} {mnt}']);
    expect(p.tool.check.argv.join(' ')).toBe('btrfs check --readonly {dev}');
  });

  it('gives btrfs room past its estimated minimum: a tenth, at least 64 MiB, whole MiB, at least 256 MiB, never more than now', () => {
    expect(btrfsShrinkTo('120586240 bytes (115.00MiB)\n', 1024 * MiB)).toBe(256 * MiB);
    expect(btrfsShrinkTo(`${300 * MiB + 5} bytes`, 1024 * MiB)).toBe(365 * MiB);
    expect(btrfsShrinkTo(`${2000 * MiB} bytes (2.00GiB)`, 4096 * MiB)).toBe(2200 * MiB);
    expect(btrfsShrinkTo(`${950 * MiB} bytes`, 1000 * MiB)).toBeUndefined();
    expect(btrfsShrinkTo('ERROR: not a btrfs filesystem', 1024 * MiB)).toBeUndefined();
  });

  it('says why there is no minimal form: XFS, unknown, logical, no table', () => {
    expect(planMinimalForm(table('xfs'))).toMatchObject({ action: 'none', reason: expect.stringMatching(/^XFS cannot shrink/) });
    expect(planMinimalForm(table(undefined))).toMatchObject({ action: 'none', reason: expect.stringMatching(/an unknown filesystem cannot be shrunk/) });
    const logical = table('ext4', 'mbr');
    logical.partitions[1]!.type = '05';
    expect(planMinimalForm(logical)).toMatchObject({ action: 'none', reason: expect.stringMatching(/logical/) });
    expect(planMinimalForm({ type: 'none', partitions: [] })).toMatchObject({ action: 'none' });
    expect(planMinimalForm({ type: 'gpt', partitions: [] })).toMatchObject({ action: 'none' });
  });

  it('the v2 `fs` wins over the table', () => {
    expect(planMinimalForm(table('xfs'), [{ index: 2, fs: 'ext3' }]).action).toBe('shrink');
    expect('reason' in shrinkTool('xfs')).toBe(true);
  });
});

describe('minimalLayout', () => {
  it('ends the partition on the next MiB, the disk after it plus GPT\'s backup', () => {
    const l = minimalLayout({ tableType: 'gpt', start: 9 * MiB, fsBytes: 20 * MiB + 4096, originalSize: 100 * MiB, sectorSize: 512, sourceBytes: 110 * MiB });
    expect(l).toEqual({ sectors: (21 * MiB) / 512, partitionBytes: 21 * MiB, diskBytes: 31 * MiB });
  });
  it('NTFS: the partition is exactly the volume (its backup boot sector is the last sector)', () => {
    const l = minimalLayout({ tableType: 'mbr', start: 63 * 512, fsBytes: 7 * MiB, originalSize: 50 * MiB, sectorSize: 512, sourceBytes: 51 * MiB, exact: true });
    expect(l).toMatchObject({ partitionBytes: 7 * MiB, sectors: (7 * MiB) / 512, diskBytes: 8 * MiB });
  });
  it('MBR needs no tail; nothing grows past the original', () => {
    expect(minimalLayout({ tableType: 'mbr', start: MiB, fsBytes: 10 * MiB, originalSize: 50 * MiB, sectorSize: 512, sourceBytes: 51 * MiB }).diskBytes).toBe(11 * MiB);
    const full = minimalLayout({ tableType: 'gpt', start: MiB, fsBytes: 50 * MiB, originalSize: 50 * MiB - 17 * 1024, sectorSize: 512, sourceBytes: 51 * MiB });
    expect(full).toMatchObject({ partitionBytes: 50 * MiB - 17 * 1024, diskBytes: 51 * MiB });
  });
});

describe('ntfsShrinkTo', () => {
  const info = 'Space in use       : 6 MB (8.4%)\nCollecting resizing constraints ...\nYou might resize at 5615616 bytes or 6 MB (freeing 62 MB).\n';
  it('the smallest size rounded up to a MiB, plus a MiB', () => {
    expect(ntfsShrinkTo(info, 64 * MiB)).toBe(7 * MiB);
  });
  it('nothing when it would not shrink, or ntfsresize said no size', () => {
    expect(ntfsShrinkTo(info, 7 * MiB)).toBeUndefined();
    expect(ntfsShrinkTo('ERROR: Volume is scheduled for check', 64 * MiB)).toBeUndefined();
  });
});
