/**
 * The disk a restore writes to: a block device or a file. The checks that
 * keep a restore from hurting the wrong disk live here.
 */
import { execa } from 'execa';
import { constants } from 'node:fs';
import { open, readFile, realpath, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { formatBytes } from '../shared/progress.ts';
import { listDisks, type Disk } from './disks.ts';
import { isZero } from '../shared/format.ts';
import { parseTable } from '../shared/partitions.ts';
import { blockGeometry } from '../shared/disk-reader.ts';
import { fileHoles } from './holes.ts';

export interface Target {
  path: string;
  block: boolean;
  size: number;
  fh: FileHandle;
  /**
   * The same disk opened with O_DIRECT, where the filesystem or device allows
   * it: writes go straight to the disk instead of being copied into the page
   * cache and written back later, and reads come from the disk itself.
   */
  direct?: FileHandle | undefined;
  /** Created by this restore: known to hold only zeros, so nothing needs reading first. */
  fresh: boolean;
  /** A file's holes: true where the range is known to read as zeros without reading it. */
  holes?: ((offset: number, length: number) => boolean) | undefined;
}

export interface TargetOptions {
  /** Make a missing file even under /dev (where a missing path is otherwise a missing disk). */
  createFile?: boolean;
  /** The disks to name when the target is not one (default: this machine's). */
  disks?: () => Promise<Disk[]>;
}

/** Under /dev a path names a device: a regular file there is a mistake (and lives in RAM). */
export const underDev = (path: string): boolean => resolve(path).startsWith('/dev/');

/** The sentence for a target that is not what the admin meant, with the disks the machine has. */
export async function notADisk(path: string, what: string, disks: () => Promise<Disk[]> = () => listDisks()): Promise<NetrestoreError> {
  const list = await disks().catch(() => []);
  const have = list.length
    ? `this machine's disks: ${list.map((d) => `${d.path} (${formatBytes(d.size)}${d.model ? `, ${d.model}` : ''})`).join(', ')}`
    : 'this machine has no disk netrestore can see';
  return new NetrestoreError(
    'TARGET_INVALID',
    `${path} ${what}: a restore writes to a disk (a block device) or to a file outside /dev (--create-file makes one anywhere); ${have}`,
  );
}

/**
 * Open for writing. A block device is taken as it is; a file only outside
 * /dev (or with `createFile`), made at `createSize` when missing. Anything
 * else — a missing /dev/sdz, a directory, a character device — is refused
 * with the disks the machine has.
 */
export async function openTarget(path: string, createSize: number, o: TargetOptions = {}): Promise<Target> {
  const st = await stat(path).catch(() => undefined);
  const fileAllowed = o.createFile === true || !underDev(path);
  if (!st) {
    if (!fileAllowed) throw await notADisk(path, 'does not exist', o.disks);
    const fh = await open(path, 'w+').catch(async (err: NodeJS.ErrnoException) => {
      throw await notADisk(path, `cannot be made as a file (${err.code ?? err.message})`, o.disks);
    });
    await fh.truncate(createSize);
    return { path, block: false, size: createSize, fh, direct: await openDirect(path), fresh: true };
  }
  if (!st.isBlockDevice() && !(st.isFile() && fileAllowed)) {
    const kind = st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file under /dev' : st.isCharacterDevice() ? 'a character device' : 'not a disk';
    throw await notADisk(path, `is ${kind}`, o.disks);
  }
  const block = st.isBlockDevice();
  const fh = await open(path, 'r+');
  const size = block ? (await blockGeometry(path)).size : st.size;
  return { path, block, size, fh, direct: await openDirect(path), fresh: false, holes: block ? undefined : await fileHoles(path) };
}

/** O_DIRECT, or undefined where it is refused (some filesystems): the restore then goes through the page cache. */
async function openDirect(path: string): Promise<FileHandle | undefined> {
  return open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => undefined);
}

export async function closeTarget(t: Target): Promise<void> {
  await Promise.all([t.fh.close(), t.direct?.close()]);
}

/** Mounted, or holding a mounted partition? (/proc/self/mounts, by device number.) */
export async function mountedFrom(path: string): Promise<string | undefined> {
  const st = await stat(path);
  if (!st.isBlockDevice()) return undefined;
  const real = await realpath(path);
  const name = real.replace(/^\/dev\//, '');
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  for (const line of mounts.split('\n')) {
    const [dev, where] = line.split(' ');
    if (!dev?.startsWith('/dev/')) continue;
    const devReal = await realpath(dev).catch(() => dev);
    const devName = devReal.replace(/^\/dev\//, '');
    // sda1 belongs to sda, nvme0n1p2 to nvme0n1, loop0p1 to loop0.
    if (devName === name || new RegExp(`^${name}p?\\d+$`).test(devName)) return `${devReal} is mounted on ${where}`;
  }
  const swaps = await readFile('/proc/swaps', 'utf8').catch(() => '');
  if (swaps.split('\n').some((l) => l.startsWith(real))) return `${real} is in use as swap`;
  return undefined;
}

/** What the disk holds now, for the confirmation question: a partition table, other data, or nothing. */
export async function describeContents(t: Target): Promise<'partition-table' | 'data' | 'empty'> {
  const n = Math.min(t.size, 1024 * 1024);
  if (n === 0) return 'empty';
  const buf = Buffer.alloc(n);
  await t.fh.read(buf, 0, n, 0);
  if (parseTable(buf, 512).type !== 'none') return 'partition-table';
  return isZero(buf) ? 'empty' : 'data';
}

/** Drop the device's cached blocks so that the next read comes from the disk itself. */
export async function flushBuffers(path: string): Promise<void> {
  await execa('blockdev', ['--flushbufs', path], { reject: false });
}

/** After writing a block device: flush, and make the kernel read the new partition table. */
export async function settleBlockDevice(path: string): Promise<void> {
  await flushBuffers(path);
  await execa('blockdev', ['--rereadpt', path], { reject: false });
  // BLKRRPART can succeed yet change nothing (seen with loop devices, and it
  // fails outright while a partition is busy): partx -u brings the kernel's
  // list in line with the new table either way.
  await execa('partx', ['-u', path], { reject: false });
}

/** On a target larger than the image, move the GPT backup header to the real end of the disk. */
export async function relocateGptBackup(path: string): Promise<boolean> {
  const r = await execa('sfdisk', ['--relocate', 'gpt-bak-std', path], { reject: false });
  return r.exitCode === 0;
}

/**
 * Does the device zero ranges itself (BLKZEROOUT offloaded as WRITE ZEROES /
 * WRITE SAME, or a loop device's fallocate)? Then zeroing free space costs the
 * machine no transfer, where writing zeros would cost a full write of it.
 */
export async function zeroesOffloaded(path: string): Promise<boolean> {
  const name = (await realpath(path)).replace(/^\/dev\//, '');
  const max = Number((await readFile(`/sys/class/block/${name}/queue/write_zeroes_max_bytes`, 'utf8').catch(() => '0')).trim());
  return max > 0;
}

/** Zero a byte range of a block device with BLKZEROOUT (`blkdiscard -z`): true when it was done. */
export async function zeroOut(path: string, offset: number, length: number): Promise<boolean> {
  const r = await execa('blkdiscard', ['-z', '-o', String(offset), '-l', String(length), path], { reject: false });
  return r.exitCode === 0;
}
