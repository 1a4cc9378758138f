/**
 * Test disks built with the real tools an admin would use (sfdisk,
 * mkfs.vfat, mke2fs -d, mkntfs), without loop devices: each filesystem is
 * made in its own file and copied into the disk at its partition's offset.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function place(disk: string, part: string, offsetMiB: number): Promise<void> {
  await execa('dd', [`if=${part}`, `of=${disk}`, 'bs=1M', `seek=${offsetMiB}`, 'conv=notrunc', 'status=none']);
}

/**
 * A disk of `sizeMiB` with an ESP-like FAT32 partition, an ext4 partition
 * full of files (random and text) and an NTFS partition.
 */
export async function buildTestDisk(dir: string, name: string, o: { sizeMiB?: number; table?: 'gpt' | 'mbr'; seed?: string } = {}): Promise<string> {
  const size = o.sizeMiB ?? 96;
  const disk = join(dir, `${name}.raw`);
  await execa('truncate', ['-s', `${size}M`, disk]);
  const layout = o.table === 'mbr' ? 'label: dos\n1M,16M,c\n17M,48M,83\n65M,,7\n' : 'label: gpt\n1M,16M,U\n17M,48M,L\n65M,,EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n';
  await execa('sfdisk', ['-q', disk], { input: layout });
  const files = join(dir, `${name}-files`);
  mkdirSync(join(files, 'etc'), { recursive: true });
  writeFileSync(join(files, 'random.bin'), randomBytes(6 * MiB));
  writeFileSync(join(files, 'etc', 'numbers.txt'), Array.from({ length: 150_000 }, (_, i) => `line ${i} of ${o.seed ?? name}`).join('\n'));
  const fat = join(dir, `${name}-p1.img`);
  const ext = join(dir, `${name}-p2.img`);
  const ntfs = join(dir, `${name}-p3.img`);
  await execa('truncate', ['-s', '16M', fat]);
  await execa('mkfs.vfat', ['-F', '32', '-n', 'ESP', fat]);
  await execa('truncate', ['-s', '48M', ext]);
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', files, ext]);
  await execa('truncate', ['-s', `${size - 66}M`, ntfs]);
  await execa('mkntfs', ['-q', '-F', '-Q', '-s', '512', '-L', 'DATA', ntfs]);
  await place(disk, fat, 1);
  await place(disk, ext, 17);
  await place(disk, ntfs, 65);
  return disk;
}
