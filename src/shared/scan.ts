/**
 * Reading a disk as an image sees it, for publish and capture alike: chunk
 * by chunk in order, each with its SHA-256 (null for a chunk of zeros), the
 * hash of the whole disk, and the totals of the manifest.
 *
 * The hashes are computed on a thread of their own (scan-hasher.ts) while
 * the next chunks are read.
 */
import { buildManifest, type Manifest, type Role } from './format.ts';
import { ScanHasher } from './scan-hasher.ts';
import type { DiskReader } from './disk-reader.ts';

export interface ScannedChunk {
  index: number;
  offset: number;
  /** In a buffer of the scan's: give it back with `release` when done with it. */
  data: Buffer;
  /** null: all zeros, not stored. */
  hash: Promise<string | null>;
}

export class DiskScan {
  /** The chunk hashes so far; one is only final once its `hash` has resolved. */
  readonly chunks: (string | null)[] = [];
  readonly totals: Manifest['totals'];
  readonly count: number;
  readonly #hasher = new ScanHasher();
  readonly #free: Buffer[] = [];
  readonly #reader: DiskReader;
  readonly #chunkSize: number;

  constructor(reader: DiskReader, chunkSize: number) {
    this.#reader = reader;
    this.#chunkSize = chunkSize;
    this.count = Math.ceil(reader.size / chunkSize);
    this.totals = { raw: reader.size, zero: 0, stored: 0, shared: 0, chunks: this.count, zeroChunks: 0 };
  }

  /** Read the next chunk; call for index 0, 1, 2 … in order (the whole-disk hash depends on it). */
  async next(): Promise<ScannedChunk> {
    const index = this.chunks.length;
    const offset = index * this.#chunkSize;
    const length = Math.min(this.#chunkSize, this.#reader.size - offset);
    const buf = this.#free.pop() ?? Buffer.from(new SharedArrayBuffer(this.#chunkSize));
    let data = await this.#reader.read(offset, length, buf);
    if (data.buffer !== buf.buffer) {
      data.copy(buf);
      data = buf.subarray(0, length);
    }
    this.chunks.push(null);
    const hash = this.#hasher.chunk(data).then((h) => {
      this.chunks[index] = h;
      if (h === null) {
        this.totals.zero += length;
        this.totals.zeroChunks++;
      }
      return h;
    });
    return { index, offset, data, hash };
  }

  /** A chunk's buffer back for the next reads, once its hash is known and nothing else reads it. */
  release(data: Buffer): void {
    if (data.buffer instanceof SharedArrayBuffer && data.buffer.byteLength === this.#chunkSize) this.#free.push(Buffer.from(data.buffer));
  }

  /** The whole disk's SHA-256 (after the last chunk). */
  digest(): Promise<string> {
    return this.#hasher.digest();
  }

  /** Stop the hashing thread (the manifest does it too). */
  async close(): Promise<void> {
    await this.#hasher.close();
  }

  /** The manifest of the disk just read (call once, after the last chunk). */
  async manifest(o: { name: string; description: string | undefined; role: Role; created: Date; sourcePath: string | undefined; partitionTable: Manifest['partitionTable'] }): Promise<Manifest> {
    const r = this.#reader;
    // The hashing thread answers in order: once the digest is in, every chunk's hash is in `chunks`.
    const sha256 = await this.digest();
    await this.close();
    return buildManifest({
      ...o,
      source: { size: r.size, sectorSize: r.sectorSize, format: r.format, path: o.sourcePath },
      chunkSize: this.#chunkSize,
      chunks: this.chunks,
      totals: this.totals,
      sha256,
    });
  }
}
