/**
 * Reading a disk as an image sees it, for publish and capture alike: chunk
 * by chunk in order, each with its SHA-256 (null for a chunk of zeros), the
 * hash of the whole disk, and the totals of the manifest.
 *
 * Free space (what the filesystems' maps leave out) is zeros before a chunk
 * is hashed, so it compresses and dedups as zeros; a chunk free throughout is
 * not even read, and comes out as zeros (hash null): neither stored nor sent.
 *
 * The hashes are computed on a thread of their own (scan-hasher.ts) while
 * the next chunks are read.
 */
import { buildManifest, GPT_BACKUP_SECTORS, isZero, minTargetBytes, type Manifest, type Role } from './format.ts';
import { ScanHasher } from './scan-hasher.ts';
import { describeDisk, type DiskReader } from './disk-reader.ts';
import type { TableSummary } from './partitions.ts';
import { mapPartitions } from './partclone.ts';
import { freeAreas, freeInChunk, wholeUse, zeroRanges, type Extent, type PartitionUse } from './used-areas.ts';

/** What the disk holds: its table, and what each partition's filesystem uses (none listed: all used). */
export interface DiskLayout {
  table: TableSummary;
  uses: PartitionUse[];
}

/** Reads which blocks each partition's filesystem uses (partclone by default; tests hand in their own). */
export type UsedMapper = (diskPath: string, table: TableSummary) => Promise<PartitionUse[]>;

/**
 * The partition table and what each filesystem uses. `raw` keeps every byte;
 * without a path to hand the mapper (a disk read some other way) every
 * partition is kept whole, and says why.
 */
export async function readLayout(reader: DiskReader, o: { path?: string | undefined; raw?: boolean | undefined; mapUsed?: UsedMapper | undefined }): Promise<DiskLayout> {
  const table = await describeDisk(reader);
  const whole = (reason: string) => table.partitions.map((p) => wholeUse(p.index, p.filesystem, p.size, reason));
  if (o.raw) return { table, uses: whole('kept whole: --raw') };
  if (!o.mapUsed && !o.path) return { table, uses: whole('no disk path to read a used-block map from') };
  const mapped = await (o.mapUsed ?? ((path, t) => mapPartitions(path, t, {})))(o.path ?? '', table);
  // One record per partition of the table, in its order: one the mapper left out is kept whole.
  const uses = table.partitions.map((p) => mapped.find((u) => u.index === p.index) ?? wholeUse(p.index, p.filesystem, p.size, 'no used-block map'));
  return { table, uses };
}

/** Where the last non-zero byte of `b` ends (0 if it is all zeros): 4 KiB at a time from the end, by memcmp. */
export function lastNonZeroEnd(b: Buffer): number {
  const STEP = 4096;
  let end = b.length;
  while (end > 0) {
    const start = Math.max(0, end - STEP);
    if (!isZero(b.subarray(start, end))) {
      for (let i = end - 1; i >= start; i--) if (b[i] !== 0) return i + 1;
    }
    end = start;
  }
  return 0;
}

export interface ScannedChunk {
  index: number;
  offset: number;
  /** In a buffer of the scan's: give it back with `release` when done with it. */
  data: Buffer;
  /** null: all zeros (free space included), not stored. */
  hash: Promise<string | null>;
  /** Free throughout: not read, zeros. */
  free: boolean;
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
  readonly #layout: DiskLayout;
  readonly #freeAreas: Extent[];
  /** Outside the partitions and the old GPT backup, past the last partition: bytes here set the smallest target. */
  readonly #tail: { start: number; end: number };
  #lastDataEnd = 0;

  /** Without a layout every byte is used (a v1-like image of a disk without partitions). */
  constructor(reader: DiskReader, chunkSize: number, layout: DiskLayout = { table: { type: 'none', partitions: [] }, uses: [] }) {
    this.#reader = reader;
    this.#chunkSize = chunkSize;
    this.#layout = layout;
    this.count = Math.ceil(reader.size / chunkSize);
    this.#freeAreas = freeAreas(layout.uses, layout.table.partitions)
      .map((e) => ({ start: e.start, length: Math.min(e.length, reader.size - e.start) }))
      .filter((e) => e.length > 0);
    const free = this.#freeAreas.reduce((n, e) => n + e.length, 0);
    this.totals = { raw: reader.size, zero: 0, free, stored: 0, shared: 0, chunks: this.count, zeroChunks: 0 };
    const partEnd = Math.max(0, ...layout.table.partitions.map((p) => p.start + p.size));
    const gpt = layout.table.type === 'gpt' ? GPT_BACKUP_SECTORS * reader.sectorSize : 0;
    this.#tail = { start: partEnd, end: reader.size - gpt };
  }

  /** Read the next chunk; call for index 0, 1, 2 … in order (the whole-disk hash depends on it). */
  async next(): Promise<ScannedChunk> {
    const index = this.chunks.length;
    const offset = index * this.#chunkSize;
    const length = Math.min(this.#chunkSize, this.#reader.size - offset);
    const buf = this.#free.pop() ?? Buffer.from(new SharedArrayBuffer(this.#chunkSize));
    const free = freeInChunk(this.#freeAreas, offset, length);
    let data: Buffer;
    if (free.all) {
      data = buf.subarray(0, length).fill(0);
    } else {
      data = await this.#reader.read(offset, length, buf);
      if (data.buffer !== buf.buffer) {
        data.copy(buf);
        data = buf.subarray(0, length);
      }
      zeroRanges(data, free.ranges);
    }
    this.chunks.push(null);
    const hash = this.#hasher.chunk(data).then((h) => {
      this.chunks[index] = h;
      if (h === null) {
        this.totals.zero += length;
        this.totals.zeroChunks++;
      } else this.#noteTail(data, offset);
      return h;
    });
    return { index, offset, data, hash, free: free.all };
  }

  /** Data past the partitions: the smallest disk must keep it. (Runs before the caller can release `data`.) */
  #noteTail(data: Buffer, offset: number): void {
    const start = Math.max(this.#tail.start, offset);
    const end = Math.min(this.#tail.end, offset + data.length);
    if (end <= start) return;
    const n = lastNonZeroEnd(data.subarray(start - offset, end - offset));
    if (n > 0) this.#lastDataEnd = Math.max(this.#lastDataEnd, start + n);
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
      partitions: this.#layout.uses,
      minTargetBytes: minTargetBytes(o.partitionTable, r.sectorSize, r.size, this.#lastDataEnd),
    });
  }
}
