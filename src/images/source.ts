/**
 * Disks to read: a raw file, a block device (`shared/disk-reader.ts`), or
 * a qcow2 / VHDX / VMDK / VDI file exported by qemu-nbd on a private Unix
 * socket and read over NBD, so a virtual disk is streamed without a
 * temporary raw copy.
 */
import { execa } from 'execa';
import { stat } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from './nbd.ts';
import { openRawDisk, type DiskReader } from '../shared/disk-reader.ts';
import { NetrestoreError } from '../shared/errors.ts';

export type { DiskReader };

/** The format of a disk file as qemu-img sees it. */
export async function diskFormat(path: string): Promise<string> {
  try {
    const r = await execa('qemu-img', ['info', '--output=json', path]);
    return (JSON.parse(r.stdout) as { format: string }).format;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'raw';
    throw new NetrestoreError('SOURCE_UNREADABLE', `cannot read ${path} as a disk image: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
}

async function nbdReader(path: string, format: string): Promise<DiskReader> {
  const dir = await mkdtemp(join(tmpdir(), 'netrestore-nbd-'));
  const socket = join(dir, 'nbd.sock');
  const server = execa('qemu-nbd', ['--read-only', '--persistent', '--shared=1', '--format', format, '--socket', socket, path], { reject: false });
  try {
    const client = await NbdClient.connect(socket, 10_000);
    return {
      size: client.size,
      sectorSize: 512,
      format,
      read: (o, l) => client.read(o, l),
      close: async () => {
        await client.close();
        server.kill();
        await server;
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    server.kill();
    const r = await server;
    await rm(dir, { recursive: true, force: true });
    throw new NetrestoreError('SOURCE_UNREADABLE', `qemu-nbd cannot export ${path}: ${String(r.stderr).trim() || (err as Error).message}; is qemu-utils installed?`);
  }
}

/** Open any supported source for reading. */
export async function openSource(path: string): Promise<DiskReader> {
  const st = await stat(path).catch(() => {
    throw new NetrestoreError('SOURCE_NOT_FOUND', `${path} does not exist: check the path of the disk`);
  });
  if (st.isBlockDevice()) return openRawDisk(path);
  const format = await diskFormat(path);
  if (format === 'raw') return openRawDisk(path);
  if (['qcow2', 'vhdx', 'vmdk', 'vdi', 'vpc', 'qed'].includes(format)) return nbdReader(path, format);
  throw new NetrestoreError('SOURCE_FORMAT', `${path} is a ${format} disk image, which netrestore cannot read; convert it with qemu-img to raw or qcow2`);
}
