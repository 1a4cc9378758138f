/**
 * A data disk for the grow drill of filesystems the restore environment
 * grows through an add-on (`netrestore drill --disk data-xfs|data-btrfs`):
 * GPT, one partition, the last, holding XFS or btrfs with files of several
 * sizes (and some written then deleted, as on a used disk) and their
 * SHA256SUMS. Nothing boots from it: after the restore onto a larger disk
 * the drill checks on this machine that the partition and the filesystem
 * fill the disk, that the filesystem's own checker finds nothing, and that
 * every file reads back as made.
 *
 * Made with Debian's tools through a loop device: run as root.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePackages, type Need } from '../host-packages.ts';
import { withFirstPartition } from './first-partition.ts';
import { NetrestoreError } from '../shared/errors.ts';

export type DataFs = 'xfs' | 'btrfs';

/** mkfs.xfs refuses less than 300 MB; btrfs is content with less. */
export const DATA_DISK_MIB: Record<DataFs, number> = { xfs: 320, btrfs: 160 };

const NEEDS: Record<DataFs, Need[]> = {
  xfs: [['/usr/sbin/mkfs.xfs', 'xfsprogs'], ['/usr/sbin/xfs_repair', 'xfsprogs'], ['/usr/sbin/xfs_db', 'xfsprogs']],
  btrfs: [['/usr/sbin/mkfs.btrfs', 'btrfs-progs'], ['/usr/bin/btrfs', 'btrfs-progs']],
};

/** Linux filesystem data. */
const LINUX_DATA = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';

async function mounted<T>(dev: string, fs: DataFs, options: string[], fn: (mnt: string) => Promise<T>): Promise<T> {
  const mnt = await mkdtemp(join(tmpdir(), 'netrestore-data-disk-'));
  try {
    await execa('mount', ['-t', fs, ...options, dev, mnt]);
    try {
      return await fn(mnt);
    } finally {
      await execa('umount', [mnt], { reject: false });
    }
  } finally {
    await rm(mnt, { recursive: true, force: true });
  }
}

/** Write the data disk of `fs` at `path`. */
export async function buildDataDisk(path: string, fs: DataFs): Promise<void> {
  requirePackages('DRILL', [['/usr/sbin/sfdisk', 'fdisk'], ['/usr/bin/partx', 'util-linux'], ...NEEDS[fs]]);
  if (process.getuid?.() !== 0) throw new NetrestoreError('DRILL', 'the data disk is made through a loop device and a mount: run as root');
  await writeFile(path, Buffer.alloc(0));
  await execa('truncate', ['-s', `${DATA_DISK_MIB[fs]}M`, path]);
  await execa('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', path], { input: `label: gpt\nstart=2048, type=${LINUX_DATA}, name=data\n` });
  await withFirstPartition(path, {}, async (part) => {
    await execa(`mkfs.${fs}`, ['-q', '-f', '-L', 'data', part]);
    await mounted(part, fs, [], async (mnt) => {
      await mkdir(join(mnt, 'srv/data'), { recursive: true });
      const sums: string[] = [];
      for (let i = 0; i < 10; i++) {
        const size = 4096 * (1 + i * i * 13);
        const b = Buffer.alloc(size);
        for (let j = 0; j < size; j += 32) createHash('sha256').update(`${fs}/${i}/${j}`).digest().copy(b, j);
        const f = `srv/data/file-${i}.bin`;
        await writeFile(join(mnt, f), b);
        // Every other file deleted again: its blocks are free space with old data in them.
        if (i % 2 === 1) await rm(join(mnt, f));
        else sums.push(`${createHash('sha256').update(b).digest('hex')}  ${f}`);
      }
      await writeFile(join(mnt, 'SHA256SUMS'), sums.join('\n') + '\n');
    });
  });
}

/** The filesystem's own size in bytes, from its superblock. */
export async function dataFsBytes(dev: string, fs: DataFs): Promise<number> {
  if (fs === 'xfs') {
    const out = (await execa('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p dblocks blocksize', dev])).stdout;
    const blocks = Number(/^dblocks = (\d+)/m.exec(out)?.[1]);
    const size = Number(/^blocksize = (\d+)/m.exec(out)?.[1]);
    if (!blocks || !size) throw new Error(`xfs_db found no XFS superblock on the restored partition:\n${out}`);
    return blocks * size;
  }
  const out = (await execa('btrfs', ['inspect-internal', 'dump-super', dev])).stdout;
  const bytes = Number(/^dev_item\.total_bytes\s+(\d+)/m.exec(out)?.[1]);
  if (!bytes) throw new Error(`btrfs found no superblock on the restored partition:\n${out.slice(0, 500)}`);
  return bytes;
}

/** `xfs_repair -n` or `btrfs check --readonly`: the last line it says, or throws with its output. */
export async function checkDataFs(dev: string, fs: DataFs): Promise<string> {
  const argv = fs === 'xfs' ? ['xfs_repair', '-n', dev] : ['btrfs', 'check', '--readonly', dev];
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`${argv.slice(0, -1).join(' ')} found problems (exit ${r.exitCode}):\n${(r.all ?? '').slice(-1500)}`);
  return `${argv.slice(0, -1).join(' ')}: clean (${(r.all ?? '').trim().split('\n').at(-1) ?? ''})`;
}

/** Every file of SHA256SUMS reads back as made, through a read-only mount; returns how many. */
export async function checkDataFiles(dev: string, fs: DataFs): Promise<number> {
  // XFS: norecovery, so a read-only mount writes nothing to the log.
  return mounted(dev, fs, ['-o', fs === 'xfs' ? 'ro,norecovery' : 'ro'], async (mnt) => {
    const r = await execa('sha256sum', ['-c', 'SHA256SUMS'], { cwd: mnt, reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`files differ from the disk as made:\n${(r.all ?? '').split('\n').filter((l) => !l.endsWith(': OK')).join('\n')}`);
    return (r.all ?? '').split('\n').filter((l) => l.endsWith(': OK')).length;
  });
}

/** The restored disk's only partition as a device (read-only), for the checks above. */
export function onDataPartition<T>(disk: string, fn: (dev: string) => Promise<T>): Promise<T> {
  return withFirstPartition(disk, { readOnly: true }, fn);
}
