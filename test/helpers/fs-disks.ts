/**
 * Test disks with real filesystems, made with Debian's tools (no kernel
 * filesystem driver needed for FAT, exFAT or NTFS): each partition is first
 * filled with random "old data" — the deleted files a real disk's free space
 * is full of — then formatted without discarding (mkfs does not zero), then
 * given files. Also: each filesystem's own checker, and its files read back.
 *
 *   const d = await makeDisk(dir, { table: 'gpt', partitions: [{ fs: 'ext4', sizeMiB: 64 }] });
 *   expect(await readFilesBack(d.path, d.partitions[0])).toEqual(expectedFiles(d, 1));
 *
 * Needs root (loop devices, FUSE mounts) and: fdisk e2fsprogs dosfstools
 * mtools ntfs-3g exfatprogs exfat-fuse xfsprogs btrfs-progs util-linux.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync, lstatSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export const MiB = 1024 * 1024;

export type TestFs = 'ext4' | 'ntfs' | 'fat32' | 'fat16' | 'exfat' | 'xfs' | 'btrfs' | 'swap' | 'unknown';

export interface TestFile {
  /** '/'-separated, relative to the filesystem's root. */
  path: string;
  data: Buffer;
}

export interface PartitionSpec {
  fs: TestFs;
  sizeMiB: number;
  /** Files to put in; default `sampleFiles()`. None for swap and unknown. */
  files?: TestFile[];
  /** MiB of random bytes written over the partition before mkfs; default: all of it. */
  oldDataMiB?: number;
}

export interface DiskSpec {
  table: 'gpt' | 'mbr';
  partitions: PartitionSpec[];
  /** File name without extension; default "disk". */
  name?: string;
}

export interface TestPartition {
  index: number;
  fs: TestFs;
  /** Bytes from the disk's start. */
  start: number;
  size: number;
}

export interface WrittenFile {
  partition: number;
  path: string;
  size: number;
  sha256: string;
}

export interface TestDisk {
  path: string;
  size: number;
  partitions: TestPartition[];
  files: WrittenFile[];
}

const sha256 = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A few files: incompressible, text, nested, empty, and one larger than a 4 MiB chunk. */
export function sampleFiles(seed = 'netrestore', randomMiB = 5): TestFile[] {
  return [
    { path: 'random.bin', data: randomBytes(randomMiB * MiB) },
    { path: 'etc/numbers.txt', data: Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of ${seed}`).join('\n')) },
    { path: 'etc/deep/nested/small.txt', data: Buffer.from(`hello from ${seed}\n`) },
    { path: 'empty', data: Buffer.alloc(0) },
  ];
}

const GPT_TYPE: Record<TestFs, string> = {
  ext4: 'L', xfs: 'L', btrfs: 'L', unknown: 'L', swap: 'S',
  ntfs: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', fat32: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', fat16: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', exfat: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
};
const MBR_TYPE: Record<TestFs, string> = { ext4: '83', xfs: '83', btrfs: '83', unknown: '83', swap: '82', ntfs: '7', exfat: '7', fat32: 'c', fat16: 'e' };

function writeTree(root: string, files: TestFile[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.data);
  }
}

/** Random bytes over the first `mib` MiB of a file, written in pieces. */
function fillRandom(path: string, mib: number): void {
  const fd = openSync(path, 'r+');
  try {
    for (let i = 0; i < mib; i += 4) writeSync(fd, randomBytes(Math.min(4, mib - i) * MiB), 0, undefined, i * MiB);
  } finally {
    closeSync(fd);
  }
}

/** A loop device over [offset, offset + size) of a file for the length of `fn`, detached afterwards whatever happens. */
export async function withLoop<T>(file: string, o: { offset?: number; size?: number; readOnly?: boolean }, fn: (dev: string) => Promise<T>): Promise<T> {
  const args = ['-f', '--show', ...(o.readOnly ? ['-r'] : []), ...(o.offset ? ['-o', String(o.offset)] : []), ...(o.size ? ['--sizelimit', String(o.size)] : []), file];
  const dev = (await execa('losetup', args)).stdout.trim();
  try {
    return await fn(dev);
  } finally {
    await execa('losetup', ['-d', dev], { reject: false });
  }
}

/** A mount for the length of `fn`, unmounted afterwards whatever happens. */
async function withMount<T>(cmd: string[], mnt: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(mnt, { recursive: true });
  await execa(cmd[0]!, cmd.slice(1));
  try {
    return await fn();
  } finally {
    await unmount(mnt);
  }
}

/** Unmounted for sure: a filesystem copied while still mounted has a dirty log (XFS) and fails its checker. */
async function unmount(mnt: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await execa('umount', [mnt], { reject: false });
    if (r.exitCode === 0) return;
    if (i === 20) throw new Error(`makeDisk: cannot unmount ${mnt}: ${r.stderr}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

async function copyInto(mnt: string, files: TestFile[]): Promise<void> {
  writeTree(mnt, files);
  await execa('sync');
}

/** One filesystem in its own file, made the way an admin would, its free space full of old data. */
async function makeFilesystem(img: string, spec: PartitionSpec, files: TestFile[], work: string): Promise<void> {
  await execa('truncate', ['-s', `${spec.sizeMiB}M`, img]);
  fillRandom(img, Math.min(spec.oldDataMiB ?? spec.sizeMiB, spec.sizeMiB));
  const tree = join(work, 'tree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writeTree(tree, files);
  const mnt = join(work, 'mnt');
  switch (spec.fs) {
    case 'ext4':
      await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', 'nodiscard', '-d', tree, img]);
      break;
    case 'btrfs':
      await execa('mkfs.btrfs', ['-q', '-f', '-K', '--rootdir', tree, img]);
      break;
    case 'xfs':
      // xfsprogs refuses XFS below 300 MB except for its own test suite's sizes.
      await execa('mkfs.xfs', ['-q', '-f', '-K', img], { env: spec.sizeMiB < 300 ? { TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' } : {} });
      await withMount(['mount', '-o', 'loop', img, mnt], mnt, () => copyInto(mnt, files));
      break;
    case 'fat32':
    case 'fat16':
      await execa('mkfs.vfat', ['-F', spec.fs === 'fat32' ? '32' : '16', '-n', spec.fs.toUpperCase(), img]);
      if (files.length) await execa('sh', ['-c', 'mcopy -s -Q -i "$0" * ::/', img], { cwd: tree, env: { MTOOLS_SKIP_CHECK: '1' } });
      break;
    case 'ntfs':
      await execa('mkntfs', ['-q', '-F', '-Q', img]);
      await withMount(['ntfs-3g', img, mnt], mnt, () => copyInto(mnt, files));
      break;
    case 'exfat':
      await execa('mkfs.exfat', [img]);
      // exfat-fuse mounts as a block device when run as root: give it one.
      await withLoop(img, {}, (dev) => withMount(['mount.exfat-fuse', dev, mnt], mnt, () => copyInto(mnt, files)));
      break;
    case 'swap':
      await execa('mkswap', [img]);
      break;
    case 'unknown':
      break;
  }
}

/**
 * A disk image in `dir`: a GPT or MBR table, partitions one after another
 * from 1 MiB, each with its filesystem, old data in its free space and files.
 */
export async function makeDisk(dir: string, spec: DiskSpec): Promise<TestDisk> {
  const name = spec.name ?? 'disk';
  const path = join(dir, `${name}.raw`);
  const totalMiB = 2 + spec.partitions.reduce((n, p) => n + p.sizeMiB, 0);
  rmSync(path, { force: true });
  await execa('truncate', ['-s', `${totalMiB}M`, path]);
  let at = 1;
  const layout = [spec.table === 'gpt' ? 'label: gpt' : 'label: dos'];
  const partitions: TestPartition[] = [];
  for (const [i, p] of spec.partitions.entries()) {
    if (spec.table === 'mbr' && i >= 4) throw new Error('makeDisk: an MBR holds four primary partitions');
    layout.push(`${at}M,${p.sizeMiB}M,${(spec.table === 'gpt' ? GPT_TYPE : MBR_TYPE)[p.fs]}`);
    partitions.push({ index: i + 1, fs: p.fs, start: at * MiB, size: p.sizeMiB * MiB });
    at += p.sizeMiB;
  }
  await execa('sfdisk', ['-q', path], { input: layout.join('\n') + '\n' });
  const work = mkdtempSync(join(dir, `${name}-work-`));
  const files: WrittenFile[] = [];
  try {
    for (const [i, p] of spec.partitions.entries()) {
      const content = p.fs === 'swap' || p.fs === 'unknown' ? [] : (p.files ?? sampleFiles(`${name}-p${i + 1}`));
      const img = join(work, `p${i + 1}.img`);
      await makeFilesystem(img, p, content, work);
      await execa('dd', [`if=${img}`, `of=${path}`, 'bs=1M', `seek=${partitions[i]!.start / MiB}`, 'conv=notrunc,sparse', 'status=none']);
      rmSync(img);
      for (const f of content) files.push({ partition: i + 1, path: f.path, size: f.data.length, sha256: sha256(f.data) });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { path, size: totalMiB * MiB, partitions, files };
}

/** path → sha256 of the files `makeDisk` put into partition `index`. */
export function expectedFiles(disk: TestDisk, index: number): Record<string, string> {
  return Object.fromEntries(disk.files.filter((f) => f.partition === index).map((f) => [f.path, f.sha256]).sort(([a], [b]) => a!.localeCompare(b!)));
}

/** path → sha256 of every regular file under `root`. */
function hashTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out[relative(root, p).split('\\').join('/')] = sha256(readFileSync(p));
    }
  };
  walk(root);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Filesystem metadata that is not the user's files. */
const SYSTEM = /^(lost\+found|System Volume Information|\$RECYCLE\.BIN)(\/|$)/;

/**
 * Every file of a partition read back (path → sha256) through a reader that
 * is not the code under test: debugfs, btrfs restore, mtools, ntfs-3g,
 * exfat-fuse, a read-only XFS mount.
 */
export async function readFilesBack(diskPath: string, p: TestPartition): Promise<Record<string, string>> {
  const out = mkdtempSync(join(dirname(diskPath), 'readback-'));
  const mnt = `${out}-mnt`;
  try {
    await withLoop(diskPath, { offset: p.start, size: p.size, readOnly: true }, async (dev) => {
      switch (p.fs) {
        case 'ext4':
          await execa('debugfs', ['-R', `rdump / ${out}`, dev]);
          break;
        case 'btrfs':
          await execa('btrfs', ['restore', dev, out]);
          break;
        case 'fat32':
        case 'fat16':
          await execa('mcopy', ['-s', '-n', '-i', dev, '::/*', out], { env: { MTOOLS_SKIP_CHECK: '1' } });
          break;
        case 'ntfs':
          await withMount(['ntfs-3g', '-o', 'ro', dev, mnt], mnt, async () => void (await execa('cp', ['-a', `${mnt}/.`, out])));
          break;
        case 'exfat':
          await withMount(['mount.exfat-fuse', '-o', 'ro', dev, mnt], mnt, async () => void (await execa('cp', ['-a', `${mnt}/.`, out])));
          break;
        case 'xfs':
          await withMount(['mount', '-t', 'xfs', '-o', 'ro,norecovery,nouuid', dev, mnt], mnt, async () => void (await execa('cp', ['-a', `${mnt}/.`, out])));
          break;
        default:
          break;
      }
    });
    return Object.fromEntries(Object.entries(hashTree(out)).filter(([k]) => !SYSTEM.test(k)));
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** The filesystem's own checker, read-only: ok, and what it said. */
export async function checkFilesystem(diskPath: string, p: TestPartition): Promise<{ ok: boolean; output: string }> {
  return withLoop(diskPath, { offset: p.start, size: p.size, readOnly: true }, async (dev) => {
    const cmd: Partial<Record<TestFs, string[]>> = {
      ext4: ['e2fsck', '-fn', dev],
      ntfs: ['ntfsfix', '-n', dev],
      fat32: ['fsck.vfat', '-n', dev],
      fat16: ['fsck.vfat', '-n', dev],
      exfat: ['fsck.exfat', '-n', dev],
      xfs: ['xfs_repair', '-n', dev],
      btrfs: ['btrfs', 'check', '--readonly', dev],
      swap: ['swaplabel', dev],
    };
    const c = cmd[p.fs];
    if (!c) return { ok: true, output: `no checker for ${p.fs}` };
    const r = await execa(c[0]!, c.slice(1), { reject: false, all: true });
    return { ok: r.exitCode === 0, output: r.all ?? '' };
  });
}
