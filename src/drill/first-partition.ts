/**
 * The first partition of a disk file as a device node of the kernel's: a
 * loop device over the whole disk with its partitions added by partx (this
 * kernel does not scan them by itself; a real one may have). For tools that
 * want the node itself, such as extlinux, which reads the partition's start
 * from it; an offset loop device (shared/range-loop.ts) cannot stand in.
 */
import { execa } from 'execa';

export async function withFirstPartition<T>(disk: string, o: { readOnly?: boolean }, fn: (part: string) => Promise<T>): Promise<T> {
  const loop = (await execa('losetup', ['-f', '--show', ...(o.readOnly ? ['-r'] : []), disk])).stdout.trim();
  try {
    // A reused loop device may keep another disk's nodes.
    await execa('partx', ['-d', loop], { reject: false });
    await execa('partx', ['-a', loop]);
    return await fn(`${loop}p1`);
  } finally {
    await execa('partx', ['-d', loop], { reject: false });
    await execa('losetup', ['-d', loop], { reject: false });
  }
}
