import { describe, expect, it } from 'vitest';
import { fsFamily, gptLastUsable, planGrow, swapResize, toolArgv, type GrowInput } from '../../src/restore-agent/grow-plan.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4';

function gpt(over: Partial<GrowInput> = {}, fs = 'ext4'): GrowInput {
  return {
    table: {
      type: 'gpt',
      partitions: [
        { index: 1, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', start: MiB, size: 16 * MiB, filesystem: 'vfat' },
        { index: 2, type: LINUX, start: 17 * MiB, size: 1007 * MiB - 34 * 512, filesystem: fs },
      ],
    },
    sourceBytes: GiB,
    targetBytes: 2 * GiB,
    sectorSize: 512,
    targetSectorSize: 512,
    ...over,
  };
}

describe('planGrow', () => {
  it('grows the last GPT partition to the last usable sector, with the ext tools', () => {
    const p = planGrow(gpt());
    expect(p).toMatchObject({ action: 'grow', table: 'gpt', index: 2, start: (17 * MiB) / 512 });
    if (p.action !== 'grow') throw new Error('no plan');
    const sectors = (2 * GiB) / 512;
    expect(p.start + p.toSectors - 1).toBe(sectors - 34);
    expect(p.fromSectors).toBe((1007 * MiB) / 512 - 34);
    expect(p.step?.runs.map((r) => r.argv[0])).toEqual(['e2fsck', 'resize2fs']);
    expect(p.warning).toBeUndefined();
  });

  it('takes the last usable LBA sfdisk reports over the standard one', () => {
    const p = planGrow(gpt({ lastUsableLba: 4_000_000 }));
    expect(p.action === 'grow' && p.start + p.toSectors - 1).toBe(4_000_000);
  });

  it('the last partition is the one that ends last, not the highest number', () => {
    const i = gpt();
    i.table.partitions.reverse();
    i.table.partitions[0]!.index = 1;
    i.table.partitions[1]!.index = 2;
    const p = planGrow(i);
    expect(p.action === 'grow' && p.index).toBe(1);
  });

  it('MBR: to the disk\'s last sector, and no further than 2^32 sectors', () => {
    const mbr: GrowInput = { ...gpt(), table: { type: 'mbr', partitions: [{ index: 1, type: '83', start: MiB, size: GiB - MiB, filesystem: 'ext4' }] } };
    const p = planGrow(mbr);
    expect(p.action === 'grow' && p.start + p.toSectors).toBe((2 * GiB) / 512);
    const huge = planGrow({ ...mbr, targetBytes: 4 * 1024 * GiB });
    if (huge.action !== 'grow') throw new Error('no plan');
    expect(huge.start + huge.toSectors).toBe(2 ** 32);
    expect(huge.warning).toMatch(/MBR table cannot address past 2097152 MiB/);
  });

  it('refuses a logical last partition (the extended container) on MBR', () => {
    const p = planGrow({ ...gpt(), table: { type: 'mbr', partitions: [{ index: 1, type: '83', start: MiB, size: 100 * MiB }, { index: 2, type: '05', start: 101 * MiB, size: 900 * MiB }] } });
    expect(p).toMatchObject({ action: 'refuse' });
    expect(p.action === 'refuse' && p.reason).toMatch(/logical one inside an extended partition/);
  });

  it('refuses to give the room to a recovery partition', () => {
    const i = gpt();
    i.table.partitions[1]!.type = 'de94bba4-06d1-4d40-a16a-bfd50179d6ac';
    expect(planGrow(i)).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/Windows recovery partition/) });
  });

  it('nothing to do on a disk of the same size (or less than a MiB more)', () => {
    expect(planGrow(gpt({ targetBytes: GiB + 4096 }))).toMatchObject({ action: 'none' });
  });

  it('nothing to do when the partition already reaches the end', () => {
    const i = gpt({ targetBytes: GiB + 2 * MiB });
    i.table.partitions[1]!.size = GiB + MiB;
    expect(planGrow(i)).toMatchObject({ action: 'none', reason: expect.stringMatching(/already reaches/) });
  });

  it('refuses another sector size, no table, an empty table, a table off its sectors', () => {
    expect(planGrow(gpt({ targetSectorSize: 4096 }))).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/512-byte sectors and this one has 4096/) });
    expect(planGrow(gpt({ table: { type: 'none', partitions: [] } }))).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/no partition table/) });
    expect(planGrow(gpt({ table: { type: 'gpt', partitions: [] } }))).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/no partitions/) });
    const odd = gpt();
    odd.table.partitions[1]!.start += 100;
    expect(planGrow(odd)).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/512-byte sectors/) });
  });

  it('4 KiB sectors: the backup array takes 4 sectors', () => {
    expect(gptLastUsable(1000, 4096)).toBe(1000 - 1 - 1 - 4);
    expect(gptLastUsable(1000, 512)).toBe(1000 - 34);
  });

  it('names the tool of each filesystem; the v2 `fs` wins over the table', () => {
    const tools = (fs: string) => {
      const p = planGrow(gpt({}, fs));
      if (p.action !== 'grow') throw new Error('no plan');
      return { mount: p.step?.mount, argv: p.step?.runs.map((r) => r.argv.join(' ')), swap: p.step?.swapHeader, fat: p.step?.fatGrow, warning: p.warning };
    };
    expect(tools('ntfs').argv).toEqual(['ntfsresize --no-action --force {dev}', 'ntfsresize --force {dev}']);
    expect(tools('xfs')).toMatchObject({ mount: 'xfs', argv: ['xfs_growfs {mnt}'] });
    expect(tools('btrfs')).toMatchObject({ mount: 'btrfs', argv: ['btrfs filesystem resize max {mnt}'] });
    expect(tools('swap')).toMatchObject({ swap: true, argv: [] });
    expect(tools('vfat')).toMatchObject({ fat: true, argv: [], warning: undefined });
    expect(tools('exfat').warning).toMatch(/exFAT/);
    expect(tools('lvm2').warning).toMatch(/what it holds \(lvm2\) is not grown.*pvresize/);
    const v2 = planGrow({ ...gpt({}, 'vfat'), uses: [{ index: 2, fs: 'xfs' }] });
    expect(v2.action === 'grow' && v2.step?.mount).toBe('xfs');
  });

  it('fsFamily reads both the detector\'s and the used-block maps\' names', () => {
    expect(['ext2', 'ext3', 'ext4', 'fat32', 'FAT16', 'vfat', 'ntfs', 'weird', undefined].map(fsFamily)).toEqual(['ext', 'ext', 'ext', 'fat', 'fat', 'fat', 'ntfs', 'other', undefined]);
  });

  it('toolArgv fills in the device and the mount point', () => {
    expect(toolArgv({ argv: ['xfs_growfs', '{mnt}'], ok: [0] }, '/dev/sda2', '/tmp/m')).toEqual(['xfs_growfs', '/tmp/m']);
    expect(toolArgv({ argv: ['resize2fs', '{dev}'], ok: [0] }, '/dev/sda2')).toEqual(['resize2fs', '/dev/sda2']);
  });
});

describe('swapResize', () => {
  const header = (page: number, version = 1) => {
    const b = Buffer.alloc(page);
    b.writeUInt32LE(version, 1024);
    b.write('SWAPSPACE2', page - 10, 'latin1');
    return b;
  };
  it('sets the last page for the new size, by the page size the magic shows', () => {
    expect(swapResize(header(4096), 64 * MiB)).toEqual({ offset: 1028, lastPage: (64 * MiB) / 4096 - 1 });
    expect(swapResize(Buffer.concat([header(16384), Buffer.alloc(100)]), 64 * MiB)).toEqual({ offset: 1028, lastPage: (64 * MiB) / 16384 - 1 });
  });
  it('refuses what is not a version-1 swap header', () => {
    expect(swapResize(Buffer.alloc(65536), MiB)).toMatchObject({ reason: expect.stringMatching(/no swap header/) });
    expect(swapResize(header(4096, 2), MiB)).toMatchObject({ reason: expect.stringMatching(/version 2/) });
  });
});
