/**
 * Growing after a restore onto a 2× larger disk: disks made with Debian's
 * tools (a small first partition, the filesystem under test last, files in
 * it), copied raw into a file twice the size (what a restore leaves), grown,
 * then checked with sfdisk, the filesystem's own checker, its own idea of its
 * size, and the files read back.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, symlinkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDisk, openRawDisk } from '../../src/shared/disk-reader.ts';
import { growAfterRestore, type GrowReport } from '../../src/restore-agent/grow.ts';
import { makeMinimalForm } from '../../src/images/minimal-form.ts';

const MiB = 1024 * 1024;
const has = (tool: string) => execa('which', [tool], { reject: false }).then((r) => r.exitCode === 0);
const root = process.getuid?.() === 0;
const tools = ['sfdisk', 'losetup', 'mke2fs', 'mkntfs', 'ntfscp', 'mkfs.xfs', 'mkfs.btrfs', 'mkfs.vfat', 'mcopy'];
const ready = root && (await Promise.all(tools.map(has))).every(Boolean);

let dir: string;
const FILES: Record<string, Buffer> = {
  'random.bin': randomBytes(3 * MiB + 123),
  'notes.txt': Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n')),
};

type Fs = 'ext4' | 'ntfs' | 'xfs' | 'btrfs' | 'vfat' | 'swap';
const P1 = 1; // MiB: the first partition starts here
const P2 = 9; // MiB: the last one (the filesystem under test) starts here

/** Run `fn` with a loop device over [offset, offset + size) of `file`, detached afterwards. */
async function withLoop<T>(file: string, offset: number, size: number, fn: (dev: string) => Promise<T>): Promise<T> {
  const dev = (await execa('losetup', ['-f', '--show', '-o', String(offset), '--sizelimit', String(size), file])).stdout.trim();
  try {
    return await fn(dev);
  } finally {
    await execa('losetup', ['-d', dev]);
  }
}

async function withMount<T>(dev: string, type: string, fn: (mnt: string) => Promise<T>, ro = false): Promise<T> {
  const mnt = mkdtempSync(join(dir, 'mnt-'));
  await execa('mount', ['-t', type, ...(ro ? ['-o', 'ro'] : []), dev, mnt]);
  try {
    return await fn(mnt);
  } finally {
    await execa('umount', [mnt]);
    rmSync(mnt, { recursive: true });
  }
}

/** The filesystem in a file of `bytes`, holding FILES. */
async function makeFs(fs: Fs, img: string, bytes: number): Promise<void> {
  await execa('truncate', ['-s', String(bytes), img]);
  const src = join(dir, 'files');
  switch (fs) {
    case 'ext4':
      return void (await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, img]));
    case 'btrfs':
      return void (await execa('mkfs.btrfs', ['-q', '-f', '--rootdir', src, img]));
    case 'vfat':
      await execa('mkfs.vfat', ['-F', '32', img]);
      for (const f of Object.keys(FILES)) await execa('mcopy', ['-i', img, join(src, f), `::${f}`]);
      return;
    case 'ntfs':
      await execa('mkntfs', ['-q', '-F', '-Q', img]);
      for (const f of Object.keys(FILES)) await execa('ntfscp', ['-f', img, join(src, f), f]);
      return;
    case 'xfs':
      await execa('mkfs.xfs', ['-q', '-f', img]);
      const copy = async (mnt: string) => void (await execa('cp', [...Object.keys(FILES).map((f) => join(src, f)), mnt]));
      await withLoop(img, 0, bytes, (dev) => withMount(dev, 'xfs', copy));
      return;
    case 'swap':
      return void (await execa('mkswap', ['-L', 'SWAPLABEL', img]));
  }
}

/** A disk of `sizeMiB`: partition 1 raw, 8 MiB; the last partition holds `fs` up to the end. */
async function makeDisk(fs: Fs, table: 'gpt' | 'mbr', sizeMiB: number): Promise<string> {
  const disk = join(dir, `${fs}-${table}.raw`);
  await execa('truncate', ['-s', `${sizeMiB}M`, disk]);
  const type = fs === 'swap' ? 'S' : 'L';
  await execa('sfdisk', ['-q', disk], { input: table === 'gpt' ? `label: gpt\n${P1}M,8M,L\n${P2}M,,${type}\n` : `label: dos\n${P1}M,8M,83\n${P2}M,,${type === 'S' ? '82' : '83'}\n` });
  const last = await lastPartition(disk);
  const img = join(dir, `${fs}-${table}.fs`);
  await makeFs(fs, img, last.size * 512);
  await execa('dd', [`if=${img}`, `of=${disk}`, 'bs=1M', `seek=${P2}`, 'conv=notrunc,sparse', 'status=none']);
  rmSync(img);
  return disk;
}

interface SfTable {
  label: string;
  lastlba?: number;
  partitions: { node: string; start: number; size: number; type: string }[];
}
const table = async (disk: string) => (JSON.parse((await execa('sfdisk', ['-J', disk])).stdout) as { partitiontable: SfTable }).partitiontable;
const lastPartition = async (disk: string) => (await table(disk)).partitions.at(-1)!;

/** What a restore onto a disk twice the size leaves: the same bytes, then zeros. */
async function restoreCopy(disk: string, name: string): Promise<string> {
  const big = join(dir, name);
  await execa('cp', ['--sparse=always', disk, big]);
  await execa('truncate', ['-s', String(2 * statSync(disk).size), big]);
  return big;
}

async function manifestOf(disk: string) {
  const r = await openRawDisk(disk);
  try {
    return { source: { size: r.size, logicalSectorSize: r.sectorSize }, partitionTable: await describeDisk(r) };
  } finally {
    await r.close();
  }
}

/** The checker's verdict (throws on failure), the filesystem's size in bytes, and the files as read back. */
async function inspect(fs: Fs, dev: string): Promise<{ bytes: number; files: Record<string, Buffer> }> {
  const files: Record<string, Buffer> = {};
  const out = join(dir, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const readMounted = async (type: string) =>
    withMount(dev, type, async (mnt) => {
      for (const f of Object.keys(FILES)) files[f] = readFileSync(join(mnt, f));
    }, true);
  switch (fs) {
    case 'ext4': {
      await execa('e2fsck', ['-fn', dev]);
      const h = (await execa('dumpe2fs', ['-h', dev])).stdout;
      const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(h)![1]);
      for (const f of Object.keys(FILES)) files[f] = Buffer.from((await execa('debugfs', ['-R', `cat /${f}`, dev], { encoding: 'buffer' })).stdout);
      return { bytes: n('Block count') * n('Block size'), files };
    }
    case 'ntfs': {
      await execa('ntfsfix', ['-n', dev]);
      // ntfsresize schedules a Windows check of the volume (as it always does): --force reads it anyway.
      const info = (await execa('ntfsinfo', ['-f', '-m', dev])).stdout;
      const n = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(info)![1]);
      for (const f of Object.keys(FILES)) files[f] = Buffer.from((await execa('ntfscat', ['-f', dev, f], { encoding: 'buffer' })).stdout);
      return { bytes: n('Cluster Size') * n('Volume Size in Clusters'), files };
    }
    case 'xfs': {
      await execa('xfs_repair', ['-n', dev]);
      const p = (await execa('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p dblocks blocksize', dev])).stdout;
      const n = (k: string) => Number(new RegExp(`${k} = (\\d+)`).exec(p)![1]);
      await readMounted('xfs');
      return { bytes: n('dblocks') * n('blocksize'), files };
    }
    case 'btrfs': {
      await execa('btrfs', ['check', '--readonly', dev]);
      const s = (await execa('btrfs', ['inspect-internal', 'dump-super', dev])).stdout;
      await readMounted('btrfs');
      return { bytes: Number(/^total_bytes\s+(\d+)/m.exec(s)![1]), files };
    }
    case 'vfat': {
      await execa('fsck.vfat', ['-n', dev]);
      const info = (await execa('minfo', ['-i', dev, '::'])).stdout;
      for (const f of Object.keys(FILES)) files[f] = Buffer.from((await execa('mtype', ['-i', dev, `::${f}`], { encoding: 'buffer', stripFinalNewline: false })).stdout);
      return { bytes: Number(/big size: (\d+) sectors/.exec(info)![1]) * 512, files };
    }
    case 'swap': {
      const head = Buffer.alloc(4096);
      const fd = openSync(dev, 'r');
      readSync(fd, head, 0, 4096, 0);
      closeSync(fd);
      const { stdout } = await execa('blkid', ['-p', '-o', 'value', '-s', 'LABEL', dev]);
      expect(stdout.trim()).toBe('SWAPLABEL');
      return { bytes: (head.readUInt32LE(1028) + 1) * 4096, files: { ...FILES } };
    }
  }
}

/** sfdisk is content and the last partition reaches the end of the disk (GPT: its last usable sector). */
async function expectFills(disk: string): Promise<SfTable['partitions'][number]> {
  const v = await execa('sfdisk', ['--verify', disk], { all: true });
  expect(v.all).toMatch(/No errors detected/);
  const t = await table(disk);
  const last = t.partitions.at(-1)!;
  const sectors = Number((await execa('blockdev', ['--getsz', disk])).stdout) || statSync(disk).size / 512;
  expect(last.start + last.size - 1).toBe(t.label === 'gpt' ? t.lastlba : sectors - 1);
  if (t.label === 'gpt') expect(t.lastlba).toBe(sectors - 34);
  return last;
}

const CASES: { fs: Fs; table: 'gpt' | 'mbr'; mib: number; grows: boolean }[] = [
  { fs: 'ext4', table: 'gpt', mib: 64, grows: true },
  { fs: 'ext4', table: 'mbr', mib: 64, grows: true },
  { fs: 'ntfs', table: 'gpt', mib: 64, grows: true },
  { fs: 'xfs', table: 'gpt', mib: 320, grows: true },
  { fs: 'btrfs', table: 'gpt', mib: 160, grows: true },
  { fs: 'vfat', table: 'gpt', mib: 64, grows: true },
  { fs: 'swap', table: 'mbr', mib: 32, grows: true },
];

describe.runIf(ready)('grow after a restore onto a 2× larger disk', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netrestore-grow-test-'));
    mkdirSync(join(dir, 'files'));
    for (const [f, data] of Object.entries(FILES)) writeFileSync(join(dir, 'files', f), data);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.fs} on ${c.table.toUpperCase()}: the last partition fills the disk${c.grows ? ', its filesystem with it' : ''}`, { timeout: 180_000 }, async () => {
      const disk = await makeDisk(c.fs, c.table, c.mib);
      const m = await manifestOf(disk);
      const before = await lastPartition(disk);
      const fsBefore = await withLoop(disk, before.start * 512, before.size * 512, (dev) => inspect(c.fs, dev));
      const big = await restoreCopy(disk, `${c.fs}-${c.table}-big.raw`);
      const warnings: string[] = [];
      const r: GrowReport = await growAfterRestore({ path: big, block: false, size: statSync(big).size }, m, { warn: (s) => warnings.push(s) });

      const last = await expectFills(big);
      expect(last.start).toBe(before.start);
      expect(r).toMatchObject({ grown: c.grows, partition: 2, from: before.size * 512, to: last.size * 512 });
      const after = await withLoop(big, last.start * 512, last.size * 512, (dev) => inspect(c.fs, dev));
      for (const [f, data] of Object.entries(FILES)) expect(after.files[f]?.equals(data), f).toBe(true);
      if (c.grows) {
        expect(warnings).toEqual([]);
        expect(after.bytes).toBeGreaterThan(fsBefore.bytes + (last.size - before.size) * 512 * 0.9);
        expect(after.bytes).toBeLessThanOrEqual(last.size * 512);
      }
      rmSync(disk);
      rmSync(big);
    });
  }

  it('on a block device: the kernel\'s partition node is grown and used', { timeout: 120_000 }, async () => {
    const disk = await makeDisk('ext4', 'gpt', 64);
    const m = await manifestOf(disk);
    const big = await restoreCopy(disk, 'ext4-block-big.raw');
    const dev = (await execa('losetup', ['-f', '--show', big])).stdout.trim();
    try {
      // A loop device keeps the partitions an earlier user added after it is detached: those go first.
      await execa('partx', ['-d', dev], { reject: false });
      await execa('partx', ['-a', dev], { reject: false });
      const warnings: string[] = [];
      const r = await growAfterRestore({ path: dev, block: true, size: statSync(big).size }, m, { warn: (s) => warnings.push(s) });
      expect(warnings).toEqual([]);
      expect(r.grown).toBe(true);
      const last = await expectFills(dev);
      // The kernel knows the new size (partx -u), and the filesystem fills it.
      expect(Number(readFileSync(`/sys/class/block/${dev.slice(5)}p2/size`, 'utf8'))).toBe(last.size);
      const after = await inspect('ext4', `${dev}p2`);
      expect(after.bytes).toBeGreaterThan(last.size * 512 - 4 * MiB);
      for (const [f, data] of Object.entries(FILES)) expect(after.files[f]?.equals(data), f).toBe(true);
    } finally {
      await execa('partx', ['-d', dev], { reject: false });
      await execa('losetup', ['-d', dev]);
    }
  });

  it('without xfs_growfs (as in the restore environment): the partition grows, the filesystem keeps its size and is fine, a warning says what to run later', { timeout: 120_000 }, async () => {
    const disk = await makeDisk('xfs', 'gpt', 320);
    const m = await manifestOf(disk);
    const big = await restoreCopy(disk, 'xfs-notool-big.raw');
    const bin = join(dir, 'bin-without-xfs_growfs');
    mkdirSync(bin);
    for (const tool of ['sfdisk', 'losetup', 'mount', 'umount', 'blockdev']) symlinkSync((await execa('which', [tool])).stdout.trim(), join(bin, tool));
    const path = process.env.PATH;
    process.env.PATH = bin;
    const warnings: string[] = [];
    let r: GrowReport;
    try {
      r = await growAfterRestore({ path: big, block: false, size: statSync(big).size }, m, { warn: (s) => warnings.push(s) });
    } finally {
      process.env.PATH = path;
    }
    expect(r.grown).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^partition 2 grew to \d+ bytes, but its xfs filesystem kept its old size: `xfs_growfs` is not on this machine .*The disk as restored is fine: run `xfs_growfs` on its mount point once the system runs$/)]);
    const last = await expectFills(big);
    const before = await withLoop(disk, last.start * 512, (await lastPartition(disk)).size * 512, (dev) => inspect('xfs', dev));
    const after = await withLoop(big, last.start * 512, last.size * 512, (dev) => inspect('xfs', dev));
    expect(after.bytes).toBe(before.bytes);
    for (const [f, data] of Object.entries(FILES)) expect(after.files[f]?.equals(data), f).toBe(true);
  });

  it('--no-grow keeps the layout; a logical last partition is refused with a sentence', { timeout: 60_000 }, async () => {
    const disk = await makeDisk('ext4', 'gpt', 64);
    const m = await manifestOf(disk);
    const big = await restoreCopy(disk, 'ext4-nogrow-big.raw');
    const dump = (await execa('sfdisk', ['-d', big])).stdout;
    expect(await growAfterRestore({ path: big, block: false, size: statSync(big).size }, m, { grow: false })).toEqual({ grown: false });
    expect((await execa('sfdisk', ['-d', big])).stdout).toBe(dump);

    const logical = join(dir, 'logical.raw');
    await execa('truncate', ['-s', '64M', logical]);
    await execa('sfdisk', ['-q', logical], { input: 'label: dos\n1M,8M,83\n9M,,5\n10M,,83\n' });
    const ml = await manifestOf(logical);
    await execa('truncate', ['-s', '128M', logical]);
    const layout = (await execa('sfdisk', ['-d', logical])).stdout;
    const warnings: string[] = [];
    const r = await growAfterRestore({ path: logical, block: false, size: 128 * MiB }, ml, { warn: (s) => warnings.push(s) });
    expect(r.grown).toBe(false);
    expect(warnings[0]).toMatch(/keeps the image's layout: the last partition is a logical one inside an extended partition/);
    expect((await execa('sfdisk', ['-d', logical])).stdout).toBe(layout);
  });
});

describe.runIf(ready)('the minimal form: the last filesystem shrunk on a copy', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netrestore-minimal-test-'));
    mkdirSync(join(dir, 'files'));
    for (const [f, data] of Object.entries(FILES)) writeFileSync(join(dir, 'files', f), data);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const fs of ['ext4', 'ntfs'] as const) {
  it(`${fs}: is smaller, checks clean, leaves the source alone, and grows onto a disk between it and the original`, { timeout: 180_000 }, async () => {
    const disk = await makeDisk(fs, 'gpt', 128);
    const sourceSum = (await execa('sha256sum', [disk])).stdout.split(' ')[0];
    const m = await manifestOf(disk);
    const reader = await openRawDisk(disk);
    const out = join(dir, `${fs}-minimal.raw`);
    const form = await makeMinimalForm(reader, m.partitionTable, out).finally(() => reader.close());
    if ('reason' in form) throw new Error(form.reason);
    expect((await execa('sha256sum', [disk])).stdout.split(' ')[0]).toBe(sourceSum);
    expect(statSync(out).size).toBe(form.diskBytes);
    // 3 MiB of files in a 119 MiB filesystem: the minimum is a few MiB of metadata and data.
    expect(form.diskBytes).toBeLessThan(40 * MiB);
    expect((await execa('sfdisk', ['--verify', out], { all: true })).all).toMatch(/No errors detected/);
    const minimal = await lastPartition(out);
    expect(minimal.size * 512).toBe(form.partitionBytes);
    const shrunk = await withLoop(out, minimal.start * 512, minimal.size * 512, (dev) => inspect(fs, dev));
    expect(shrunk.bytes).toBeLessThanOrEqual(form.partitionBytes);
    for (const [f, data] of Object.entries(FILES)) expect(shrunk.files[f]?.equals(data), f).toBe(true);

    // A restore of the minimal form onto a 64 MiB disk (between it and the original's 128), then grown.
    const target = join(dir, `${fs}-between.raw`);
    await execa('cp', ['--sparse=always', out, target]);
    await execa('truncate', ['-s', `${64 * MiB}`, target]);
    const r = await growAfterRestore({ path: target, block: false, size: 64 * MiB }, await manifestOf(out));
    expect(r.grown).toBe(true);
    const last = await expectFills(target);
    const grown = await withLoop(target, last.start * 512, last.size * 512, (dev) => inspect(fs, dev));
    expect(grown.bytes).toBeGreaterThan(last.size * 512 - 2 * MiB);
    for (const [f, data] of Object.entries(FILES)) expect(grown.files[f]?.equals(data), f).toBe(true);
  });
  }

  it('says why an XFS image has none', async () => {
    const reader = await openRawDisk(await makeDisk('xfs', 'gpt', 320));
    const m = await describeDisk(reader).finally(() => reader.close());
    expect(await makeMinimalForm(reader, m, join(dir, 'never.raw'))).toEqual({ reason: expect.stringMatching(/^XFS cannot shrink/) });
  });
});
