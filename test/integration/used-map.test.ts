/**
 * Used-block maps are right: the proof is end to end. For every filesystem,
 * a disk whose free space is full of old random data is mapped, every byte
 * the map calls free is zeroed on a copy (through freeAreas, freeInChunk and
 * zeroRanges, as publish does), and the copy must still pass the
 * filesystem's own checker and give back every file, byte for byte. For
 * ext4 the map is also compared block by block with dumpe2fs's free lists.
 * What cannot be mapped (unknown, damaged) is kept whole, with a reason.
 */
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdtempSync, openSync, readSync, writeSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapPartitions, partcloneArgs, judgeDomainMap } from '../../src/shared/partclone.ts';
import { describeDisk, openRawDisk } from '../../src/shared/disk-reader.ts';
import type { TableSummary } from '../../src/shared/partitions.ts';
import { freeAreas, freeInChunk, zeroRanges, partitionUseSchema, type Extent, type PartitionUse } from '../../src/shared/used-areas.ts';
import { checkFilesystem, expectedFiles, makeDisk, MiB, readFilesBack, withLoop, type TestDisk, type TestPartition } from '../helpers/fs-disks.ts';

const can = process.getuid?.() === 0 && existsSync('/usr/sbin/partclone.extfs') && existsSync('/usr/sbin/mount.exfat-fuse');

async function tableOf(path: string): Promise<TableSummary> {
  const r = await openRawDisk(path);
  try {
    return await describeDisk(r);
  } finally {
    await r.close();
  }
}

/** A copy of the disk with every free byte zeroed, chunk by chunk as publish does it. Returns how many bytes were zeroed. */
function zeroFreeCopy(src: string, dst: string, uses: PartitionUse[], parts: TestPartition[], size: number): number {
  copyFileSync(src, dst);
  const free = freeAreas(uses, parts);
  const chunk = 4 * MiB;
  const buf = Buffer.alloc(chunk);
  const fd = openSync(dst, 'r+');
  let zeroed = 0;
  try {
    for (let off = 0; off < size; off += chunk) {
      const len = Math.min(chunk, size - off);
      const f = freeInChunk(free, off, len);
      if (f.ranges.length === 0) continue;
      readSync(fd, buf, 0, len, off);
      zeroRanges(buf.subarray(0, len), f.ranges);
      writeSync(fd, buf, 0, len, off);
      zeroed += f.ranges.reduce((n, r) => n + r.length, 0);
    }
  } finally {
    closeSync(fd);
  }
  return zeroed;
}

const dir = mkdtempSync(join(tmpdir(), 'nr-usedmap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(can)('used-block maps by partclone, proved end to end', () => {
  let gpt: TestDisk;
  let mbr: TestDisk;
  let gptUses: PartitionUse[];
  let mbrUses: PartitionUse[];
  let gptZeroed: string;
  let mbrZeroed: string;

  beforeAll(async () => {
    gpt = await makeDisk(dir, {
      name: 'gpt',
      table: 'gpt',
      partitions: [
        { fs: 'ext4', sizeMiB: 48 },
        { fs: 'ntfs', sizeMiB: 40 },
        { fs: 'fat32', sizeMiB: 40 },
        { fs: 'exfat', sizeMiB: 32 },
        { fs: 'xfs', sizeMiB: 64 },
        { fs: 'btrfs', sizeMiB: 120 },
        { fs: 'swap', sizeMiB: 16 },
        { fs: 'unknown', sizeMiB: 8 },
      ],
    });
    mbr = await makeDisk(dir, { name: 'mbr', table: 'mbr', partitions: [{ fs: 'fat16', sizeMiB: 24 }, { fs: 'ext4', sizeMiB: 32 }, { fs: 'ext4', sizeMiB: 24 }] });
    gptUses = await mapPartitions(gpt.path, await tableOf(gpt.path), { tmpDir: dir });
    mbrUses = await mapPartitions(mbr.path, await tableOf(mbr.path), { tmpDir: dir });
    gptZeroed = join(dir, 'gpt-zeroed.raw');
    mbrZeroed = join(dir, 'mbr-zeroed.raw');
    expect(zeroFreeCopy(gpt.path, gptZeroed, gptUses, gpt.partitions, gpt.size)).toBeGreaterThan(200 * MiB);
    expect(zeroFreeCopy(mbr.path, mbrZeroed, mbrUses, mbr.partitions, mbr.size)).toBeGreaterThan(30 * MiB);
  }, 600_000);

  it('gives one valid record per partition, in table order', () => {
    expect(gptUses.map((u) => u.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const u of [...gptUses, ...mbrUses]) expect(() => partitionUseSchema.parse(u)).not.toThrow();
  });

  const cases: [string, () => TestDisk, () => PartitionUse[], () => string, number][] = [
    ['ext4', () => gpt, () => gptUses, () => gptZeroed, 1],
    ['NTFS', () => gpt, () => gptUses, () => gptZeroed, 2],
    ['FAT32', () => gpt, () => gptUses, () => gptZeroed, 3],
    ['exFAT', () => gpt, () => gptUses, () => gptZeroed, 4],
    ['XFS', () => gpt, () => gptUses, () => gptZeroed, 5],
    ['btrfs', () => gpt, () => gptUses, () => gptZeroed, 6],
    ['FAT16 (MBR)', () => mbr, () => mbrUses, () => mbrZeroed, 1],
    ['ext4 (MBR)', () => mbr, () => mbrUses, () => mbrZeroed, 2],
  ];
  it.each(cases)('%s: mapped; with every free byte zeroed it still passes its checker and every file reads back the same', async (_name, disk, uses, zeroed, index) => {
    const d = disk();
    const p = d.partitions[index - 1]!;
    const u = uses().find((x) => x.index === index)!;
    expect(u.mapped, u.reason).toBe(true);
    expect(u.fs).toBe(p.fs);
    // Files of about 5 MiB, old random data everywhere else: most of the partition is free.
    expect(u.usedBytes).toBeLessThan(p.size * 0.6);
    const check = await checkFilesystem(zeroed(), p);
    expect(check.ok, check.output).toBe(true);
    expect(await readFilesBack(zeroed(), p)).toEqual(expectedFiles(d, index));
  }, 120_000);

  it('ext4: the blocks partclone calls used are exactly those dumpe2fs does not list as free, and the record covers them all', async () => {
    const p = gpt.partitions[0]!;
    await withLoop(gpt.path, { offset: p.start, size: p.size, readOnly: true }, async (dev) => {
      const dump = (await execa('dumpe2fs', [dev])).stdout;
      const bs = Number(/^Block size:\s+(\d+)/m.exec(dump)![1]);
      const blocks = Number(/^Block count:\s+(\d+)/m.exec(dump)![1]);
      const first = Number(/^First block:\s+(\d+)/m.exec(dump)![1]);
      const used = new Uint8Array(blocks).fill(1);
      for (let b = 0; b < first; b++) used[b] = 1;
      for (const m of dump.matchAll(/^\s+Free blocks: (.*)$/gm)) {
        for (const r of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
          const [a, z] = r.split('-').map(Number) as [number, number | undefined];
          for (let b = a; b <= (z ?? a); b++) used[b] = 0;
        }
      }
      const map = join(dir, 'ext4.map');
      await execa('partclone.extfs', partcloneArgs(dev, map, join(dir, 'ext4.log')), { reject: false });
      const judged = judgeDomainMap(await import('node:fs').then((f) => f.readFileSync(map, 'utf8')), p.size);
      if ('reason' in judged) throw new Error(judged.reason);
      const fromMap = new Uint8Array(blocks);
      for (const e of judged.used) for (let b = Math.floor(e.start / bs); b < Math.min(blocks, Math.ceil((e.start + e.length) / bs)); b++) fromMap[b] = 1;
      let differ = 0;
      for (let b = 0; b < blocks; b++) if (fromMap[b] !== used[b]) differ++;
      expect(differ).toBe(0);
      // The record (rounded outward, merged, guarded) never drops one of them.
      const rec = gptUses[0]!.used.map(([s, l]): Extent => ({ start: s, length: l }));
      for (let b = 0; b < blocks; b++) {
        if (!used[b]) continue;
        const off = b * bs;
        expect(rec.some((e) => off >= e.start && off + bs <= e.start + e.length), `block ${b}`).toBe(true);
      }
    });
  }, 60_000);

  it('swap: only its header page is kept (inside the guard MiB)', async () => {
    const u = gptUses[6]!;
    expect(u).toMatchObject({ fs: 'swap', mapped: true });
    expect(u.used[0]![0]).toBe(0);
    expect(u.usedBytes).toBeLessThanOrEqual(2 * MiB);
    expect((await checkFilesystem(gptZeroed, gpt.partitions[6]!)).ok).toBe(true);
  });

  it('an unknown type is kept whole and says why; its bytes are untouched in the zeroed copy', async () => {
    const u = gptUses[7]!;
    expect(u).toMatchObject({ mapped: false, usedBytes: 8 * MiB, used: [] });
    expect(u.reason).toMatch(/no filesystem/);
    const p = gpt.partitions[7]!;
    const a = Buffer.alloc(p.size);
    const b = Buffer.alloc(p.size);
    for (const [f, buf] of [[gpt.path, a], [gptZeroed, b]] as const) {
      const fd = openSync(f, 'r');
      readSync(fd, buf, 0, p.size, p.start);
      closeSync(fd);
    }
    expect(a.equals(b)).toBe(true);
  });

  it('a damaged ext4 (its block bitmap or its superblock overwritten with garbage) is kept whole with a reason, and nothing throws', async () => {
    const d = await makeDisk(dir, { name: 'damaged', table: 'gpt', partitions: [{ fs: 'ext4', sizeMiB: 24 }, { fs: 'ext4', sizeMiB: 24 }, { fs: 'ext4', sizeMiB: 24 }] });
    const [p1, p2] = d.partitions as [TestPartition, TestPartition];
    const bitmapBlock = await withLoop(d.path, { offset: p1.start, size: p1.size, readOnly: true }, async (dev) => {
      const dump = (await execa('dumpe2fs', [dev])).stdout;
      return { at: Number(/Block bitmap at (\d+)/.exec(dump)![1]), bs: Number(/^Block size:\s+(\d+)/m.exec(dump)![1]) };
    });
    const fd = openSync(d.path, 'r+');
    writeSync(fd, Buffer.alloc(bitmapBlock.bs, 0xa5), 0, bitmapBlock.bs, p1.start + bitmapBlock.at * bitmapBlock.bs);
    // The superblock's counts and feature words, not its magic: still detected as ext4.
    writeSync(fd, Buffer.alloc(56, 0x5a), 0, 56, p2.start + 1024);
    closeSync(fd);
    const table = await tableOf(d.path);
    expect(table.partitions.map((p) => p.filesystem)).toEqual(['ext4', 'ext4', 'ext4']);
    const uses = await mapPartitions(d.path, table, { tmpDir: dir });
    expect(uses[0]).toMatchObject({ index: 1, fs: 'ext4', mapped: false, usedBytes: p1.size });
    expect(uses[0]!.reason).toMatch(/partclone.extfs could not read the filesystem \(.*bitmap.*\)/);
    expect(uses[1]).toMatchObject({ index: 2, fs: 'ext4', mapped: false, usedBytes: p2.size });
    expect(uses[1]!.reason).toMatch(/partclone.extfs could not read the filesystem/);
    expect(uses[2]).toMatchObject({ index: 3, fs: 'ext4', mapped: true });
    expect((await execa('losetup', ['-j', d.path])).stdout).toBe(''); // every loop device detached
  }, 120_000);

  it('a filesystem larger than its partition (a truncated partition) is kept whole', async () => {
    const d = await makeDisk(dir, { name: 'short', table: 'gpt', partitions: [{ fs: 'ext4', sizeMiB: 32, oldDataMiB: 0 }] });
    const table = await tableOf(d.path);
    table.partitions[0]!.size -= 8 * MiB;
    const [u] = await mapPartitions(d.path, table, { tmpDir: dir });
    expect(u).toMatchObject({ mapped: false, usedBytes: 24 * MiB });
    expect(u!.reason).toMatch(/does not fit|could not read/);
  }, 60_000);

  it('--raw keeps every partition whole; a disk without a table is mapped as one filesystem', async () => {
    const raw = await mapPartitions(gpt.path, await tableOf(gpt.path), { raw: true });
    expect(raw.every((u) => !u.mapped && u.reason === '--raw: every byte kept')).toBe(true);
    expect(raw.map((u) => u.usedBytes)).toEqual(gpt.partitions.map((p) => p.size));
    const bare = join(dir, 'bare.img');
    await execa('truncate', ['-s', '32M', bare]);
    await execa('mke2fs', ['-q', '-F', '-t', 'ext4', bare]);
    const table = await tableOf(bare);
    expect(table.type).toBe('none');
    const [u] = await mapPartitions(bare, table);
    expect(u).toMatchObject({ index: 1, fs: 'ext4', mapped: true });
    expect(u!.usedBytes).toBeLessThan(16 * MiB);
  }, 60_000);

  it('on a block device, maps each partition through its own node (/dev/loopNp1) and gives the same records as from the file', async () => {
    const dev = (await execa('losetup', ['-r', '-f', '--show', gpt.path])).stdout.trim();
    try {
      // This kernel does not read partition tables by itself: partx adds the nodes. A loop device
      // keeps the partitions an earlier user added after it is detached: those go first.
      await execa('partx', ['-d', dev], { reject: false });
      const px = await execa('partx', ['-a', dev], { reject: false });
      expect(existsSync(`${dev}p1`), px.stderr).toBe(true);
      const table = await tableOf(dev);
      const before = (await execa('losetup', ['-a'])).stdout.split('\n').length;
      let duringLoops = 0;
      const uses = await mapPartitions(dev, table, {
        tmpDir: dir,
        run: async (cmd, args) => {
          if (cmd === 'losetup') duringLoops++;
          const r = await execa(cmd, args, { reject: false });
          return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
        },
      });
      expect(duringLoops).toBe(0); // every partition had its node
      expect((await execa('losetup', ['-a'])).stdout.split('\n').length).toBe(before);
      expect(uses).toEqual(gptUses);
    } finally {
      await execa('partx', ['-d', dev], { reject: false });
      await execa('losetup', ['-d', dev], { reject: false });
    }
  }, 120_000);

  it('a qcow2 disk is kept whole: partclone cannot read it directly', async () => {
    const q = join(dir, 'disk.qcow2');
    await execa('qemu-img', ['convert', '-O', 'qcow2', gpt.path, q]);
    const uses = await mapPartitions(q, await tableOf(gpt.path));
    expect(uses.every((u) => !u.mapped && /virtual disk/.test(u.reason!))).toBe(true);
  }, 60_000);
});
