/**
 * A partition's own block device, when the kernel made one: /dev/sda1,
 * /dev/nvme0n1p1, /dev/loop0p1. Found through sysfs, and only trusted where
 * sysfs gives it the table's start (and size, when asked): a loop device
 * keeps partitions an earlier user added after it is detached.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';

export async function partitionNode(disk: string, index: number, start: number, size?: number): Promise<string | undefined> {
  // /dev/disk/by-id/… names a device through a symlink: sysfs knows it as sda, nvme0n1.
  const name = basename(await realpath(disk).catch(() => disk));
  const sys = `/sys/class/block/${name}`;
  const children = await readdir(sys).catch(() => [] as string[]);
  // sysfs counts in 512-byte units whatever the sector size.
  const sectors = (c: string, f: string) => readFile(join(sys, c, f), 'utf8').then(Number, () => NaN);
  for (const c of children) {
    if ((await sectors(c, 'partition')) !== index || (await sectors(c, 'start')) * 512 !== start) continue;
    if (size !== undefined && (await sectors(c, 'size')) * 512 !== size) continue;
    if (existsSync(`/dev/${c}`)) return `/dev/${c}`;
  }
  return undefined;
}
