/**
 * The restore pipeline: for each chunk of the image, read what the target
 * holds there; if it is already right (same hash, or zeros where the image
 * has zeros) leave it; otherwise fetch, decompress, check the SHA-256 and
 * only then write it at its offset. Chunks go in parallel; a chunk that fails
 * its check is fetched once more, then the restore stops with a sentence.
 * At the end: fsync, read back every chunk written and check it (the chunks
 * left alone were checked as they were read), and on a larger GPT disk move
 * the backup header to the end.
 */
import { chunkSpan, isZero, sha256, type Manifest } from '../images/format.ts';
import { HashPool, sharedBuffer } from '../images/hash-pool.ts';
import { Limiter } from '../images/limit.ts';
import { readFully } from '../images/source.ts';
import { decompress } from '../images/zstd.ts';
import type { ImagesClient } from './client.ts';
import { flushBuffers, relocateGptBackup, settleBlockDevice, type Target } from './target.ts';

export interface RestoreProgress {
  phase: 'restore' | 'verify';
  done: number;
  total: number;
}

export interface RestoreOptions {
  parallel?: number;
  verify?: boolean;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreStats {
  bytesTotal: number;
  bytesFetched: number;
  bytesWritten: number;
  chunksSkipped: number;
  chunksWritten: number;
  verified: boolean;
  gptRelocated: boolean;
}

export class RestoreError extends Error {
  override name = 'RestoreError';
}

async function fetchChecked(client: ImagesClient, m: Manifest, i: number, h: string, stats: RestoreStats): Promise<Buffer> {
  let reason = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const packed = await client.chunk(h);
    stats.bytesFetched += packed.length;
    try {
      const raw = await decompress(packed, m.chunkSize);
      if (sha256(raw) === h) return raw;
      reason = 'its checksum does not match';
    } catch (err) {
      reason = `it cannot be decompressed (${(err as Error).message})`;
    }
  }
  throw new RestoreError(
    `image ${m.name}: chunk ${i} (${h.slice(0, 16)}…) failed its check twice, ${reason}: the image on the server is damaged; run \`netrestore images verify ${m.name}\` on the server, and restore another image or re-import this one`,
  );
}

/**
 * Starts writing dirty data out every 64 MiB, in the background: on a machine
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
  if (t.size < m.source.size) {
    throw new RestoreError(`${t.path} holds ${t.size} bytes, but image ${m.name} needs ${m.source.size}: restore to a disk at least as large as the one it was taken from`);
  }
  const stats: RestoreStats = { bytesTotal: m.source.size, bytesFetched: 0, bytesWritten: 0, chunksSkipped: 0, chunksWritten: 0, verified: false, gptRelocated: false };
  const limiter = new Limiter(o.parallel ?? 4);
  let done = 0;
  const progress = (phase: RestoreProgress['phase'], n: number) => o.onProgress?.({ phase, done: n, total: m.source.size });

  // One read buffer per job in flight, reused: a restore reads the whole disk,
  // and the hashing threads read these buffers in place.
  const spare: Buffer[] = [];
  const hashes = new HashPool();
  try {
    const written: number[] = [];
    const flusher = new Flusher(t);
    for (let i = 0; i < m.chunks.length; i++) {
      const h = m.chunks[i] ?? null;
      const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
      await limiter.run(async () => {
        const buf = spare.pop() ?? sharedBuffer(m.chunkSize);
        try {
          await restoreChunk(i, h, offset, length, buf);
        } finally {
          spare.push(buf);
        }
      });
    }
    await limiter.drain();
    await flusher.idle();
    await t.fh.sync();

    async function restoreChunk(i: number, h: string | null, offset: number, length: number, buf: Buffer): Promise<void> {
      // A stored chunk is never all zeros, so a blank stretch of disk needs no hashing to know it differs.
      const blank = t.fresh || t.holes?.(offset, length) || isZero(await readFully(t.fh, offset, length, buf));
      const right = h === null ? blank : !blank && (await hashes.hash(buf.subarray(0, length))) === h;
      if (right) stats.chunksSkipped++;
      else {
        const data = h === null ? Buffer.alloc(length) : await fetchChecked(client, m, i, h, stats);
        if (data.length !== length) throw new RestoreError(`image ${m.name}: chunk ${i} holds ${data.length} bytes, the manifest says ${length}: the image is damaged`);
        await t.fh.write(data, 0, length, offset);
        if (o.verify !== false && !t.block) {
          // A file: read it back now and compare with the bytes whose hash was just
          // checked (a memcmp, far cheaper than hashing the disk again later).
          const back = await readFully(t.fh, offset, length, buf);
          if (!back.equals(data)) throw new RestoreError(`chunk ${i} of ${t.path} reads back different from what was written: the disk may be failing; run the restore again, or try another disk`);
        } else written.push(i);
        stats.bytesWritten += length;
        stats.chunksWritten++;
        flusher.wrote(length);
      }
      done += length;
      progress('restore', done);
    }

    if (o.verify !== false) {
      // Every chunk left alone was just read from the disk (or is a hole) and matched the image,
      // and a file's chunks were read back as they were written. On a block device,
      // read back each chunk written from the device itself (not the cache) and
      // check it against the manifest: together that is the whole disk.
      if (t.block) await flushBuffers(t.path);
      let checked = 0;
      const check = new Limiter(o.parallel ?? 4);
      for (const i of written) {
        await check.run(async () => {
          const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
          const buf = spare.pop() ?? sharedBuffer(m.chunkSize);
          try {
            const back = await readFully(t.fh, offset, length, buf);
            const h = m.chunks[i] ?? null;
            if (h === null ? !isZero(back) : (await hashes.hash(back)) !== h) {
              throw new RestoreError(`chunk ${i} of ${t.path} does not match image ${m.name} after it was written: the disk may be failing; run the restore again, or try another disk`);
            }
          } finally {
            spare.push(buf);
          }
          checked += length;
          progress('verify', checked);
        });
      }
      await check.drain();
      stats.verified = true;
    }

    if (t.size > m.source.size && m.partitionTable.type === 'gpt') {
      await t.fh.sync();
      stats.gptRelocated = await relocateGptBackup(t.path);
    }
    if (t.block) await settleBlockDevice(t.path);
    return stats;
  } finally {
    await hashes.close();
  }
}
