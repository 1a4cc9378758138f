/**
 * The filesystem detector: real filesystems made by Debian's mkfs tools, and
 * the containers no filesystem reader looks into, built from their specs.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectFilesystem, fatType } from '../../src/shared/partitions.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function made(name: string, sizeMiB: number, cmd: string[], env: Record<string, string> = {}): Promise<Buffer> {
  const f = join(dir, `${name}.img`);
  await execa('truncate', ['-s', `${sizeMiB}M`, f]);
  await execa(cmd[0]!, [...cmd.slice(1), f], { env });
  return readFileSync(f).subarray(0, 68 * 1024);
}

describe('detectFilesystem on filesystems made by their tools', () => {
  it.each([
    ['ext2', 16, ['mke2fs', '-q', '-F', '-t', 'ext2']],
    ['ext3', 16, ['mke2fs', '-q', '-F', '-t', 'ext3']],
    ['ext4', 16, ['mke2fs', '-q', '-F', '-t', 'ext4']],
    ['ntfs', 16, ['mkntfs', '-q', '-F', '-Q']],
    ['fat12', 2, ['mkfs.vfat', '-F', '12']],
    ['fat16', 20, ['mkfs.vfat', '-F', '16']],
    ['fat32', 40, ['mkfs.vfat', '-F', '32']],
    ['exfat', 16, ['mkfs.exfat']],
    ['xfs', 64, ['mkfs.xfs', '-q', '-f'], { TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' }],
    ['btrfs', 120, ['mkfs.btrfs', '-q', '-f']],
    ['swap', 4, ['mkswap']],
  ] as [string, number, string[], Record<string, string>?][])('%s', async (fs, size, cmd, env) => {
    expect(detectFilesystem(await made(fs, size, cmd, env))).toBe(fs);
  });

  it('tells FAT types by cluster count, not by the label: a FAT16 labelled "FAT32" is FAT16', async () => {
    const b = Buffer.from(await made('fat16-lying', 20, ['mkfs.vfat', '-F', '16']));
    expect(fatType(b)).toBe('fat16');
    b.write('FAT32   ', 82, 'latin1');
    expect(detectFilesystem(b)).toBe('fat16');
  });
});

describe('detectFilesystem on containers and the unknown', () => {
  const blank = () => Buffer.alloc(68 * 1024);

  it('names LUKS (1 and 2), BitLocker and LVM2 physical volumes', () => {
    const luks = blank();
    luks.write('LUKS\xba\xbe', 0, 'latin1');
    expect(detectFilesystem(luks)).toBe('luks');
    const luks2 = blank();
    luks2.write('SKUL\xba\xbe', 0, 'latin1'); // LUKS2's secondary header magic
    expect(detectFilesystem(luks2)).toBe('luks');
    const lvm = blank();
    lvm.write('LABELONE', 0x200, 'latin1');
    lvm.write('LVM2 001', 0x218, 'latin1');
    expect(detectFilesystem(lvm)).toBe('lvm2');
  });

  it('names BitLocker before FAT or NTFS, though its header is a boot sector', async () => {
    const b = Buffer.from(await made('fat32-bl', 40, ['mkfs.vfat', '-F', '32']));
    b.write('-FVE-FS-', 3, 'latin1');
    expect(detectFilesystem(b)).toBe('bitlocker');
  });

  it('finds the swap signature at the end of a 64 KiB page too', () => {
    const b = blank();
    b.write('SWAPSPACE2', 65536 - 10, 'latin1');
    expect(detectFilesystem(b)).toBe('swap');
  });

  it('says nothing for zeros, random bytes, a short buffer or a FAT label over an insane BPB', () => {
    expect(detectFilesystem(blank())).toBeUndefined();
    expect(detectFilesystem(Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) % 251)))).toBeUndefined();
    expect(detectFilesystem(Buffer.alloc(100))).toBeUndefined();
    const b = blank();
    b.write('FAT32   ', 82, 'latin1');
    b[510] = 0x55;
    b[511] = 0xaa;
    expect(detectFilesystem(b)).toBeUndefined();
  });
});
