/**
 * The restore's disk work on worker threads: read and hash what the target
 * holds, decompress a fetched chunk, check its SHA-256, write it and read it
 * back. The main thread only fetches and decides.
 *
 * Why threads: on a small machine the main thread was the bottleneck, and each
 * chunk allocated a fresh 4 MiB buffer that the garbage collector had to find
 * by marking the whole agent's heap (dozens of marking cycles per restore).
 * Here the compressed body arrives in a buffer backed by a SharedArrayBuffer
 * (no copy), and each thread decompresses into its own aligned buffer with
 * one kept zstd context (zstd-into.ts): nothing is allocated per chunk.
 *
 * Writes and reads go through O_DIRECT where the target allows it: copying a
 * whole disk into the page cache cost more CPU than anything else in a
 * restore, a read-back from the cache would prove nothing about the disk, and
 * the cache is of no use to a machine that reboots next. Two more threads than
 * cores (four at most), because a thread waiting on the disk uses none and the
 * disk should never wait for a thread (bench/restore: 2.6 s with four threads,
 * 2.8 s with three, on two cores).
 *
 * The threads use the target's file descriptors directly (descriptors belong to
 * the process). Their code is a few lines of plain JavaScript evaluated in
 * place, so that the agent's one-file bundle needs no second file.
 */
import { availableParallelism } from 'node:os';
import { Threads } from '../shared/threads.ts';
import { makeDecompressInto } from '../shared/zstd-into.ts';
import type { Extent } from '../shared/used-areas.ts';

const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const zlib = require('node:zlib');
const fs = require('node:fs');
const { fd, directFd, chunkSize } = workerData;
// O_DIRECT needs the memory, the offset and the length aligned; a WebAssembly
// memory starts on a page boundary, which a Buffer's memory does not. 'data'
// holds a chunk on its way to the disk, 'scratch' what is read from it.
const ALIGN = 4096;
// 'data' has one page more than a chunk: decompressInto needs a byte past the
// largest chunk to see a frame that is too large.
const aligned = (size) => Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(size / 65536) }).buffer, 0, size);
const data = aligned(chunkSize + ALIGN);
const scratch = aligned(chunkSize);
const zeros = aligned(chunkSize);
// This code is a string evaluated in the thread and cannot import: its own sha256, the same as format.ts's.
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const isZero = (b) => b.equals(zeros.subarray(0, b.length));
const directAt = (offset, length) => directFd >= 0 && offset % ALIGN === 0 && length % ALIGN === 0;
const decompressInto = (${makeDecompressInto.toString()})(zlib);
// Reads land in 'scratch', straight from the disk where aligned: through the
// page cache, reading a disk back cost more system CPU than the rest of a
// restore (dd here: 2.2 s of kernel time for 2 GiB, 0.1 s with O_DIRECT), and
// a cached copy is of no use to a machine that reboots next.
function readAt(offset, length) {
  const from = directAt(offset, length) ? directFd : fd;
  for (let done = 0; done < length; ) {
    const n = fs.readSync(from, scratch, done, length - done, offset + done);
    if (n === 0) throw Object.assign(new Error('unexpected end of disk at byte ' + (offset + done)), { code: 'EOF' });
    done += n;
  }
  return scratch.subarray(0, length);
}
// [start, end) pairs of [0, end) that the sorted 'free' [start, length] ranges leave.
function usedParts(free, end) {
  const out = [];
  let at = 0;
  for (const [s, l] of free ?? []) {
    if (s >= end) break;
    if (s > at) out.push([at, s]);
    at = Math.max(at, s + l);
  }
  if (at < end) out.push([at, end]);
  return out;
}
// 'b' is always part of 'data' or 'zeros': aligned memory, so it goes direct wherever the span allows.
function writeAt(b, offset) {
  const to = directAt(offset, b.length) ? directFd : fd;
  for (let done = 0; done < b.length; ) done += fs.writeSync(to, b, done, b.length - done, offset + done);
}
const ops = {
  // 'free': [start, length] ranges of the chunk that no filesystem uses; they
  // are zeros in the image, so the copy read here is zeroed there before it is
  // compared: a target whose free space differs still holds the right chunk.
  probe({ offset, length, free }) {
    const b = readAt(offset, length);
    for (const [s, l] of free ?? []) b.fill(0, s, s + l);
    return isZero(b) ? { blank: true } : { blank: false, hash: sha256(b) };
  },
  // Only the used parts are written: 'free' ranges (4 KiB-aligned, as the maps
  // are) stay as the target has them, and are not read back either.
  put({ body, hash, offset, length, readBack, writeLength, free }) {
    let raw;
    try {
      raw = decompressInto(body, data, length);
    } catch (err) {
      return { bad: 'it cannot be decompressed (' + err.message + ')' };
    }
    if (raw === undefined) return { bad: 'it holds more bytes than the ' + length + ' the manifest says' };
    if (raw.length !== length) return { bad: 'it holds ' + raw.length + ' bytes where the manifest says ' + length };
    if (sha256(raw) !== hash) return { bad: 'its checksum does not match' };
    // A target smaller than the source takes the chunk's head only (the rest is past its end).
    const end = writeLength === undefined ? length : writeLength;
    let readBackDiffers = false;
    for (const [s, e] of usedParts(free, end)) {
      const part = raw.subarray(s, e);
      writeAt(part, offset + s);
      if (readBack && !readAt(offset + s, e - s).equals(part)) readBackDiffers = true;
    }
    return { readBackDiffers };
  },
  zero({ offset, length, readBack, free }) {
    let readBackDiffers = false;
    for (const [s, e] of usedParts(free, length)) {
      writeAt(zeros.subarray(s, e), offset + s);
      if (readBack && !isZero(readAt(offset + s, e - s))) readBackDiffers = true;
    }
    return { readBackDiffers };
  },
  check({ offset, length, hash, free }) {
    const b = readAt(offset, length);
    for (const [s, l] of free ?? []) b.fill(0, s, s + l);
    return { same: hash === null ? isZero(b) : !isZero(b) && sha256(b) === hash };
  },
};
parentPort.on('message', (m) => {
  let reply;
  try {
    reply = { id: m.id, ...ops[m.op](m) };
  } catch (err) {
    reply = { id: m.id, error: { message: err.message, code: err.code } };
  }
  parentPort.postMessage(reply);
});
`;

const pairs = (free: Extent[] = []): [number, number][] => free.map((e) => [e.start, e.length]);

/** A buffer the threads read in place (no copy when it is posted to them). */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/** What the target holds at a chunk: nothing but zeros, or bytes with this hash. */
export type Probe = { blank: true } | { blank: false; hash: string };

/** A fetched chunk: written (and whether it read back different), or refused before a byte was written. */
export type PutResult = { bad: string } | { bad?: undefined; readBackDiffers: boolean };

/**
 * An I/O failure in a thread, with the errno code kept for the message.
 * Internal: restore.ts always turns it into DISK_FAILING before a user sees it.
 */
export class ChunkIoError extends Error {
  override name = 'ChunkIoError';
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

/** Matched by name, not instanceof (see shared/errors.ts). */
export const isChunkIoError = (err: unknown): err is ChunkIoError => (err as Error | undefined)?.name === 'ChunkIoError';

export class ChunkWorkers {
  readonly #threads: Threads;

  /** `fd` is the target; `directFd` the same target opened with O_DIRECT, or -1. */
  constructor(fd: number, directFd: number, chunkSize: number, size = Math.min(4, availableParallelism() + 2)) {
    this.#threads = new Threads(WORKER_SOURCE, { fd, directFd, chunkSize }, size, 'a disk thread');
  }

  /** Read the target at a chunk and hash it (no hash where it is blank), its `free` ranges (relative to the chunk) taken as zeros. */
  async probe(offset: number, length: number, free: Extent[] = []): Promise<Probe> {
    return (await this.#call({ op: 'probe', offset, length, free: pairs(free) })) as Probe;
  }

  /**
   * Decompress `body` (in a shared buffer), check it against `hash`, and only
   * then write it at `offset` — its first `writeLength` bytes on a target that
   * ends inside it, and not its `free` ranges (relative to the chunk) — and with `readBack`, read it back (from the disk
   * where O_DIRECT allows) and compare.
   */
  async put(body: Buffer, hash: string, offset: number, length: number, readBack: boolean, o: { writeLength?: number; free?: Extent[] } = {}): Promise<PutResult> {
    if (!(body.buffer instanceof SharedArrayBuffer)) throw new TypeError('ChunkWorkers.put needs a body in a buffer from sharedBuffer()');
    const writeLength = o.writeLength !== undefined && o.writeLength < length ? { writeLength: o.writeLength } : {};
    return (await this.#call({ op: 'put', body, hash, offset, length, readBack, ...writeLength, free: pairs(o.free) })) as PutResult;
  }

  /** Write zeros over a chunk (where the image has none stored and the target is not blank), but for its `free` ranges. */
  async zero(offset: number, length: number, readBack: boolean, free: Extent[] = []): Promise<boolean> {
    return ((await this.#call({ op: 'zero', offset, length, readBack, free: pairs(free) })) as { readBackDiffers: boolean }).readBackDiffers;
  }

  /** Read a chunk back (from the disk where O_DIRECT allows) and compare it with the image: `hash`, or zeros for null; its `free` ranges count as zeros. */
  async check(offset: number, length: number, hash: string | null, free: Extent[] = []): Promise<boolean> {
    return ((await this.#call({ op: 'check', offset, length, hash, free: pairs(free) })) as { same: boolean }).same;
  }

  async close(): Promise<void> {
    await this.#threads.close();
  }

  async #call(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { error, ...result } = await this.#threads.call(message);
    const e = error as { message: string; code?: string } | undefined;
    if (e) throw new ChunkIoError(e.message, e.code);
    return result;
  }
}
