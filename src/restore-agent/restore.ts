/**
 * The restore pipeline: for each chunk of the image, read what the target
 * holds there; if it is already right (same hash, or zeros where the image
 * has zeros) leave it; otherwise fetch, decompress, check the SHA-256 and
 * only then write it at its offset, and read it back. Chunks go in parallel
 * (the disk work on threads, chunk-workers.ts); a chunk that fails its check
 * is fetched once more, then the restore stops with a sentence. At the end:
 * fsync, and on a GPT disk of another size move the backup header to its end.
 *
 * Free space (v2: what no filesystem uses) is neither written nor compared:
 * a chunk free throughout is left as the target has it, and the free ranges
 * of a chunk count as zeros when the target's copy is compared. With
 * `zeroFree` the target is made clean instead: free chunks are zeros, and a
 * chunk is compared whole. A target smaller than the source but at least
 * `minTargetBytes` takes the image up to its own end: what lies past it is
 * zeros or the old GPT backup, which is written anew.
 */
import { chunkSpan, manifestFree, type Manifest } from '../shared/format.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { formatBytes } from '../shared/progress.ts';
import { Limiter } from '../shared/limit.ts';
import type { Progress } from '../shared/progress.ts';
import { freeInChunk, type Extent } from '../shared/used-areas.ts';
import { ChunkWorkers, isChunkIoError, sharedBuffer } from './chunk-workers.ts';
import type { ImagesClient } from './client.ts';
import { flushBuffers, relocateGptBackup, settleBlockDevice, zeroesOffloaded, zeroOut, type Target } from './target.ts';

export type RestoreProgress = Progress<'restore' | 'verify'>;

/** Chunks in flight: enough that the threads never wait for a fetch. */
export const DEFAULT_PARALLEL = 8;

export interface RestoreOptions {
  parallel?: number;
  verify?: boolean;
  /** Write zeros over free space too, for a disk that must be clean; otherwise free chunks are left as they are. */
  zeroFree?: boolean;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreStats {
  bytesTotal: number;
  bytesFetched: number;
  bytesWritten: number;
  chunksSkipped: number;
  chunksWritten: number;
  /** Chunks free throughout, left as the target had them (0 with zeroFree). */
  chunksFree: number;
  verified: boolean;
  gptRelocated: boolean;
}

// zstd's frame around an incompressible chunk adds a few bytes per 128 KiB block.
const BODY_SLACK = 64 * 1024;

/**
 * Without O_DIRECT: starts writing dirty data out every 64 MiB, in the background: on a machine
 * with much memory the kernel would otherwise hold gigabytes until the final
 * fsync and write them while nothing else happens.
 */
class Flusher {
  #since = 0;
  #running: Promise<void> | undefined;
  #error: unknown;
  readonly #t: Target;
  constructor(t: Target) {
    this.#t = t;
  }
  wrote(n: number): void {
    this.#since += n;
    if (this.#since < 64 * 1024 * 1024 || this.#running) return;
    this.#since = 0;
    // Kept, not thrown here: a write error surfaces from idle(), before success is claimed.
    this.#running = this.#t.fh
      .datasync()
      .catch((err: unknown) => {
        this.#error ??= err;
      })
      .finally(() => (this.#running = undefined));
  }
  async idle(): Promise<void> {
    await this.#running;
    if (this.#error !== undefined) throw this.#error;
  }
}

export async function restore(client: ImagesClient, m: Manifest, t: Target, o: RestoreOptions = {}): Promise<RestoreStats> {
  if (t.size < m.minTargetBytes) {
    throw new NetrestoreError(
      'TARGET_TOO_SMALL',
      `${t.path} holds ${formatBytes(t.size)} (${t.size} bytes), but image ${m.name} needs a disk of at least ${formatBytes(m.minTargetBytes)} (${m.minTargetBytes} bytes): restore to a larger disk`,
    );
  }
  const stats: RestoreStats = { bytesTotal: m.source.size, bytesFetched: 0, bytesWritten: 0, chunksSkipped: 0, chunksWritten: 0, chunksFree: 0, verified: false, gptRelocated: false };
  const verify = o.verify !== false;
  const zeroFree = o.zeroFree === true;
  const free = manifestFree(m);
  // Each chunk is read back as it is written and compared with the bytes just
  // checked (a memcmp, far cheaper than hashing again). After an O_DIRECT write
  // nothing of the range is cached, so that read comes from the disk. A block
  // device without O_DIRECT is instead read back past its cache after the last
  // write; a file without it, from the page cache.
  const lastPass = verify && t.block && !t.direct;
  const readBack = verify && !lastPass;
  const limiter = new Limiter(o.parallel ?? DEFAULT_PARALLEL);
  const workers = new ChunkWorkers(t.fh.fd, t.direct?.fd ?? -1, m.chunkSize);
  // One body buffer per fetch in flight, reused: the threads read them in place.
  const bodies: Buffer[] = [];
  let done = 0;
  const progress = (phase: RestoreProgress['phase'], n: number) => o.onProgress?.({ phase, done: n, total: m.source.size });
  const ioFailed = (i: number, err: unknown): Error =>
    isChunkIoError(err)
      ? new NetrestoreError('DISK_FAILING', `chunk ${i} of ${t.path} could not be read or written (${err.message}): the disk may be failing or full; check it, then run the restore again`)
      : (err as Error);

  async function fetchAndPut(i: number, h: string, offset: number, length: number, writeLength: number, skip: Extent[]): Promise<boolean> {
    let reason = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      const body = bodies.pop() ?? sharedBuffer(m.chunkSize + BODY_SLACK);
      try {
        let packed = await client.chunk(h, body);
        stats.bytesFetched += packed.length;
        if (!(packed.buffer instanceof SharedArrayBuffer)) {
          // Larger than the body buffer, so larger than any honest chunk: the thread's check will say why.
          const shared = sharedBuffer(packed.length);
          packed.copy(shared);
          packed = shared;
        }
        // A chunk cut by the target's end cannot be checked by its hash later: read it back now.
        const r = await workers.put(packed, h, offset, length, readBack || (verify && writeLength < length), { writeLength, free: skip });
        if (r.bad === undefined) return r.readBackDiffers;
        reason = r.bad;
      } finally {
        bodies.push(body);
      }
    }
    throw new NetrestoreError(
      'IMAGE_DAMAGED',
      `image ${m.name}: chunk ${i} (${h.slice(0, 16)}…) failed its check twice, ${reason}: the image on the server is damaged; run \`netrestore images verify ${m.name}\` on the server, and restore another image or re-import this one`,
    );
  }

  async function restoreChunk(i: number, h: string | null, offset: number, length: number): Promise<void> {
    const inFree = freeInChunk(free, offset, length);
    // Past the end of a smaller target: zeros or the old GPT backup (minTargetBytes says so).
    const writable = Math.max(0, Math.min(length, t.size - offset));
    if (inFree.all && !zeroFree) stats.chunksFree++;
    else if (zeroedOut.has(i)) {
      stats.bytesWritten += length;
      stats.chunksWritten++;
    } else if (writable < length) await cutChunk(i, h, offset, length, writable);
    else {
      // A stored chunk is never all zeros, so a blank stretch of disk needs no hashing to know it differs.
      const probe = t.fresh || t.holes?.(offset, length) ? { blank: true as const } : await workers.probe(offset, length, zeroFree ? [] : inFree.ranges);
      const right = h === null ? probe.blank : !probe.blank && probe.hash === h;
      if (right) stats.chunksSkipped++;
      else await write(i, h, offset, length, zeroFree ? [] : inFree.ranges);
    }
    done += length;
    progress('restore', done);
  }

  /** The chunk that a smaller target's end cuts is written up to that end, whatever the target holds. */
  async function cutChunk(i: number, h: string | null, offset: number, length: number, writable: number): Promise<void> {
    if (writable === 0) return void stats.chunksSkipped++;
    const differs = h === null ? await workers.zero(offset, writable, verify) : await fetchAndPut(i, h, offset, length, writable, []);
    if (differs) throw new NetrestoreError('DISK_FAILING', `chunk ${i} of ${t.path} reads back different from what was written: the disk may be failing; run the restore again, or try another disk`);
    stats.bytesWritten += writable;
    stats.chunksWritten++;
    if (!t.direct) flusher.wrote(writable);
  }

  /** A chunk the target lacks: written but for its free ranges (`skip`), which stay as they are. */
  async function write(i: number, h: string | null, offset: number, length: number, skip: Extent[]): Promise<void> {
    const differs = h === null ? await workers.zero(offset, length, readBack, skip) : await fetchAndPut(i, h, offset, length, length, skip);
    if (differs) throw new NetrestoreError('DISK_FAILING', `chunk ${i} of ${t.path} reads back different from what was written: the disk may be failing; run the restore again, or try another disk`);
    if (lastPass) written.push(i);
    stats.bytesWritten += length;
    stats.chunksWritten++;
    if (!t.direct) flusher.wrote(length);
  }

  const written: number[] = [];
  const flusher = new Flusher(t);
  let zeroedOut = new Set<number>();

  /**
   * With zeroFree on a device that zeroes by itself: the runs of chunks free
   * throughout, zeroed in one request each and not read first. A run the
   * device refuses is left to the chunk loop, which writes zeros.
   */
  async function zeroFreeRuns(): Promise<Set<number>> {
    const done = new Set<number>();
    let first = -1;
    const flush = async (end: number) => {
      if (first < 0) return;
      const a = chunkSpan(first, m.chunkSize, m.source.size).offset;
      const b = chunkSpan(end - 1, m.chunkSize, m.source.size);
      if (b.offset + b.length <= t.size && (await zeroOut(t.path, a, b.offset + b.length - a))) for (let i = first; i < end; i++) done.add(i);
      first = -1;
    };
    for (let i = 0; i < m.chunks.length; i++) {
      const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
      if (freeInChunk(free, offset, length).all) {
        if (first < 0) first = i;
      } else await flush(i);
    }
    await flush(m.chunks.length);
    return done;
  }

  try {
    if (zeroFree && t.block && (await zeroesOffloaded(t.path).catch(() => false))) zeroedOut = await zeroFreeRuns();
    for (let i = 0; i < m.chunks.length; i++) {
      const h = m.chunks[i] ?? null;
      const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
      await limiter.run(() => restoreChunk(i, h, offset, length).catch((err: unknown) => Promise.reject(ioFailed(i, err))));
    }
    await limiter.drain();
    await flusher.idle();
    await t.fh.sync();

    if (verify) {
      // Every chunk left alone was just read from the disk (or is a hole) and matched the image,
      // and every chunk written was read back, or is read back now: together that is the whole disk.
      if (lastPass) await flushBuffers(t.path);
      let checked = 0;
      const check = new Limiter(o.parallel ?? DEFAULT_PARALLEL);
      for (const i of [...written, ...zeroedOut]) {
        const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
        await check.run(async () => {
          const same = await workers.check(offset, length, m.chunks[i] ?? null, zeroFree ? [] : freeInChunk(free, offset, length).ranges).catch((err: unknown) => Promise.reject(ioFailed(i, err)));
          if (!same) throw new NetrestoreError('DISK_FAILING', `chunk ${i} of ${t.path} does not match image ${m.name} after it was written: the disk may be failing; run the restore again, or try another disk`);
          checked += length;
          progress('verify', checked);
        });
      }
      await check.drain();
      stats.verified = true;
    }

    if (t.size !== m.source.size && m.partitionTable.type === 'gpt') {
      await t.fh.sync();
      stats.gptRelocated = await relocateGptBackup(t.path);
    }
    if (t.block) await settleBlockDevice(t.path);
    return stats;
  } finally {
    await workers.close();
  }
}
