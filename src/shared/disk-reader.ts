/**
 * Reading a raw disk: a plain file or a block device. The agent and the
 * server share this; virtual disk formats (qcow2 …) are the server's, in
 * `images/source.ts`.
 */
import { execa } from 'execa';
import { open, type FileHandle } from 'node:fs/promises';
import { NetrestoreError } from './errors.ts';
import { detectFilesystem, parseTable, type TableSummary } from './partitions.ts';

export interface DiskReader {
  size: number;
  sectorSize: number;
  format: string;
  /** `into`, where the reader can fill it, spares a copy (a raw disk can; NBD hands its own buffer). */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  close(): Promise<void>;
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
    if (bytesRead === 0) throw new NetrestoreError('DISK_READ', `unexpected end of disk at byte ${offset + done}: the disk is shorter than it said, or it was cut off while being read`);
    done += bytesRead;
  }
  return buf;
}

/** A raw file or block device, opened for reading. */
export async function openRawDisk(path: string): Promise<DiskReader> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NetrestoreError('SOURCE_NOT_FOUND', `${path} does not exist: check the path of the disk`, { cause: err });
    throw new NetrestoreError('SOURCE_UNREADABLE', `cannot open ${path}: ${err.message}`, { cause: err });
  });
  const st = await fh.stat();
  const geometry = st.isBlockDevice() ? await blockGeometry(path) : { size: st.size, sectorSize: 512 };
  return { ...geometry, format: 'raw', read: (o, l, into) => readFully(fh, o, l, into), close: () => fh.close() };
}

/** Partition table and filesystems, from the disk's first sectors and each partition's start. */
export async function describeDisk(reader: DiskReader): Promise<TableSummary> {
  const head = await reader.read(0, Math.min(reader.size, 34 * reader.sectorSize + 16 * 1024));
  const table = parseTable(head, reader.sectorSize);
  for (const p of table.partitions) {
    if (p.start >= reader.size || p.size === 0) continue;
    const fs = detectFilesystem(await reader.read(p.start, Math.min(68 * 1024, p.size, reader.size - p.start)));
    if (fs) p.filesystem = fs;
  }
  if (table.type === 'none') {
    const fs = detectFilesystem(await reader.read(0, Math.min(reader.size, 68 * 1024)));
    if (fs) table.partitions.push({ index: 1, type: 'whole-disk', start: 0, size: reader.size, filesystem: fs });
  }
  return table;
}
