/**
 * Reading a disk as an image sees it, for publish and capture alike: chunk
 * by chunk in order, each with its SHA-256 (null for a chunk of zeros), the
 * hash of the whole disk, and the totals of the manifest.
 */
import { createHash, type Hash } from 'node:crypto';
import { buildManifest, isZero, sha256, type Manifest, type Role } from './format.ts';
import type { DiskReader } from './source.ts';

export interface ScannedChunk {
  index: number;
  offset: number;
  data: Buffer;
  /** null: all zeros, not stored. */
  hash: string | null;
}

export class DiskScan {
  readonly chunks: (string | null)[] = [];
  readonly totals: Manifest['totals'];
  readonly count: number;
  readonly #whole: Hash = createHash('sha256');
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
    const data = await this.#reader.read(offset, Math.min(this.#chunkSize, this.#reader.size - offset));
    this.#whole.update(data);
    const hash = isZero(data) ? null : sha256(data);
    if (hash === null) {
      this.totals.zero += data.length;
      this.totals.zeroChunks++;
    }
    this.chunks.push(hash);
    return { index, offset, data, hash };
  }

  digest(): string {
    return this.#whole.digest('hex');
  }

  /** The manifest of the disk just read (call once, after the last chunk). */
  manifest(o: { name: string; description: string | undefined; role: Role; created: Date; sourcePath: string | undefined; partitionTable: Manifest['partitionTable'] }): Manifest {
    const r = this.#reader;
    return buildManifest({
      ...o,
      source: { size: r.size, sectorSize: r.sectorSize, format: r.format, path: o.sourcePath },
      chunkSize: this.#chunkSize,
      chunks: this.chunks,
      totals: this.totals,
      sha256: this.digest(),
    });
  }
}
