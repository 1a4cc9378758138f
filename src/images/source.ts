/**
 * Disks to read from or write to: a raw file, a block device, or (read only)
 * a qcow2 / VHDX / VMDK / VDI file exported by qemu-nbd on a private Unix
 * socket and read over NBD, so a virtual disk is streamed without a
 * temporary raw copy.
 */
import { execa } from 'execa';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from './nbd.ts';

export interface DiskReader {
  size: number;
  sectorSize: number;
  format: string;
  /** `into`, where the reader can fill it, spares a copy (a raw disk can; NBD hands its own buffer). */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export class SourceError extends Error {
  override name = 'SourceError';
}

/** Size and logical sector size of a block device: one question per call, as busybox's blockdev takes them too. */
export async function blockGeometry(path: string): Promise<{ size: number; sectorSize: number }> {
  const [size, ss] = await Promise.all([execa('blockdev', ['--getsize64', path]), execa('blockdev', ['--getss', path])]);
  return { size: Number(size.stdout.trim()), sectorSize: Number(ss.stdout.trim()) };
}

/** Read exactly `length` bytes at `offset`, into `into` when given (reused buffers spare the GC). */
export async function readFully(fh: FileHandle, offset: number, length: number, into?: Buffer): Promise<Buffer> {
  const buf = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) throw new SourceError(`unexpected end of disk at byte ${offset + done}`);
    done += bytesRead;
  }
  return buf;
}

async function rawReader(path: string): Promise<DiskReader> {
  const fh = await open(path, 'r');
  const st = await fh.stat();
  const geometry = st.isBlockDevice() ? await blockGeometry(path) : { size: st.size, sectorSize: 512 };
  return { ...geometry, format: 'raw', read: (o, l, into) => readFully(fh, o, l, into), close: () => fh.close() };
}

/** The format of a disk file as qemu-img sees it. */
export async function diskFormat(path: string): Promise<string> {
  try {
    const r = await execa('qemu-img', ['info', '--output=json', path]);
    return (JSON.parse(r.stdout) as { format: string }).format;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'raw';
    throw new SourceError(`cannot read ${path} as a disk image: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
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
    throw new SourceError(`qemu-nbd cannot export ${path}: ${String(r.stderr).trim() || (err as Error).message}; is qemu-utils installed?`);
  }
}

/** Open any supported source for reading. */
export async function openSource(path: string): Promise<DiskReader> {
  const st = await stat(path).catch(() => {
    throw new SourceError(`${path} does not exist`);
  });
  if (st.isBlockDevice()) return rawReader(path);
  const format = await diskFormat(path);
  if (format === 'raw') return rawReader(path);
  if (['qcow2', 'vhdx', 'vmdk', 'vdi', 'vpc', 'qed'].includes(format)) return nbdReader(path, format);
  throw new SourceError(`${path} is a ${format} disk image, which netrestore cannot read; convert it with qemu-img to raw or qcow2`);
}
