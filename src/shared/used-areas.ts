/**
 * Which bytes of a disk its filesystems use: the pure part. A filesystem's
 * used-block map (read by partclone, `shared/partclone.ts`) arrives as a
 * ddrescue domain map; everything else here is arithmetic over extents.
 *
 * An area counts as free only inside a partition whose map was read
 * ("mapped"). Everything else — partition tables, the gaps where boot loaders
 * live, partitions kept whole — is used. Free bytes are zeros in an image:
 * they are neither stored, sent nor written.
 */
import { z } from 'zod';
import { NetrestoreError } from './errors.ts';

/** A byte range [start, start + length). */
export interface Extent {
  start: number;
  length: number;
}

/** Extents are kept on 4 KiB boundaries, rounded outward: a map never loses a used byte to rounding. */
export const MAP_ALIGN = 4096;
/** Free gaps smaller than this are counted as used: they save little and would bloat the manifest. */
export const MIN_FREE_GAP = 64 * 1024;
/**
 * The first MiB of a mapped partition is always kept: boot sectors, volume
 * boot loaders and superblocks live there. So are its last 64 KiB: NTFS keeps
 * its backup boot sector after its last cluster, which no bitmap covers. The
 * end is kept short because it is usually free and full of old data
 * (bench/images: 1 MiB of it cost ext4 2 % more stored bytes than partclone).
 */
export const GUARD_BYTES = 1024 * 1024;
export const END_GUARD_BYTES = 64 * 1024;

/** What the image knows of one partition's filesystem. */
export const partitionUseSchema = z
  .object({
    /** The partition's index in the partition table (1 for a disk without one). */
    index: z.number().int().min(1),
    /** Filesystem type as detected ("ext4", "ntfs", "fat32", "swap" …); absent when unknown. */
    fs: z.string().optional(),
    /** true: only `used` matters, the rest is free; false: the partition is kept whole. */
    mapped: z.boolean(),
    /** Bytes the filesystem uses (the partition's size when kept whole). */
    usedBytes: z.number().int().nonnegative(),
    /** Used extents as [start, length] pairs in bytes from the partition's start; empty when kept whole. */
    used: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().positive()])),
    /** Why it was kept whole: an unknown type, LVM, LUKS, BitLocker, a damaged filesystem, --raw. */
    reason: z.string().optional(),
  })
  .strict();

export type PartitionUse = z.infer<typeof partitionUseSchema>;

/**
 * The '+' (finished, i.e. used) areas of a ddrescue domain map as partclone
 * `-D` writes it: comment lines start with '#', the first data line is the
 * current position and status, then `pos size status` in hex.
 */
export function parseDomainMap(text: string): Extent[] {
  const out: Extent[] = [];
  let seenPosition = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (!seenPosition) {
      seenPosition = true; // "current_pos current_status [current_pass]"
      if (f.length < 3 || !/^0x/i.test(f[1] ?? '')) continue;
    }
    if (f.length < 3) throw new NetrestoreError('USED_MAP', `domain map line "${line}" has no size and status`);
    const start = Number.parseInt(f[0]!, 16);
    const length = Number.parseInt(f[1]!, 16);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0) throw new NetrestoreError('USED_MAP', `domain map line "${line}" is not two hexadecimal numbers`);
    if (f[2] === '+' && length > 0) out.push({ start, length });
  }
  return out;
}

/** Sort, round outward to `align`, merge overlapping, touching and near (gap < `minGap`) extents. */
export function normalizeExtents(extents: Extent[], align = MAP_ALIGN, minGap = MIN_FREE_GAP): Extent[] {
  const sorted = extents
    .filter((e) => e.length > 0)
    .map((e) => {
      const start = Math.floor(e.start / align) * align;
      return { start, end: Math.ceil((e.start + e.length) / align) * align };
    })
    .sort((a, b) => a.start - b.start);
  const out: Extent[] = [];
  let cur: { start: number; end: number } | undefined;
  for (const e of sorted) {
    if (cur && e.start - cur.end < minGap) cur.end = Math.max(cur.end, e.end);
    else {
      if (cur) out.push({ start: cur.start, length: cur.end - cur.start });
      cur = { ...e };
    }
  }
  if (cur) out.push({ start: cur.start, length: cur.end - cur.start });
  return out;
}

/** Clip extents to [0, size). */
export function clipExtents(extents: Extent[], size: number): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const start = Math.max(0, e.start);
    const end = Math.min(size, e.start + e.length);
    if (end > start) out.push({ start, length: end - start });
  }
  return out;
}

/**
 * A mapped partition's record from its filesystem's used extents (relative to
 * the partition): normalised, the guard areas added, clipped to the partition.
 */
export function mappedUse(index: number, fs: string, partitionSize: number, used: Extent[]): PartitionUse {
  const guards: Extent[] = [
    { start: 0, length: Math.min(GUARD_BYTES, partitionSize) },
    { start: Math.max(0, partitionSize - END_GUARD_BYTES), length: Math.min(END_GUARD_BYTES, partitionSize) },
  ];
  const all = clipExtents(normalizeExtents([...used, ...guards]), partitionSize);
  return { index, fs, mapped: true, usedBytes: all.reduce((n, e) => n + e.length, 0), used: all.map((e) => [e.start, e.length]) };
}

/** A partition kept whole, and why. */
export function wholeUse(index: number, fs: string | undefined, partitionSize: number, reason: string): PartitionUse {
  return { index, ...(fs ? { fs } : {}), mapped: false, usedBytes: partitionSize, used: [], reason };
}

/**
 * The free areas of a disk, absolute and sorted: inside each mapped partition,
 * everything its map does not name. `partitions` gives each index's place.
 */
export function freeAreas(uses: PartitionUse[], partitions: { index: number; start: number; size: number }[]): Extent[] {
  const out: Extent[] = [];
  for (const u of uses) {
    if (!u.mapped) continue;
    const p = partitions.find((x) => x.index === u.index);
    if (!p) continue;
    let at = 0;
    for (const [s, l] of u.used) {
      if (s > at) out.push({ start: p.start + at, length: s - at });
      at = Math.max(at, s + l);
    }
    if (p.size > at) out.push({ start: p.start + at, length: p.size - at });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * The free ranges inside one chunk [offset, offset + length), relative to
 * the chunk, and whether the chunk is free throughout. `free` must be sorted
 * and non-overlapping (as `freeAreas` gives it); a binary search finds the
 * first candidate, so a disk with many extents costs log n per chunk.
 */
export function freeInChunk(free: Extent[], offset: number, length: number): { all: boolean; ranges: Extent[] } {
  const end = offset + length;
  let lo = 0;
  let hi = free.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const f = free[mid]!;
    if (f.start + f.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  const ranges: Extent[] = [];
  let covered = 0;
  for (let i = lo; i < free.length; i++) {
    const f = free[i]!;
    if (f.start >= end) break;
    const s = Math.max(f.start, offset);
    const e = Math.min(f.start + f.length, end);
    if (e > s) {
      ranges.push({ start: s - offset, length: e - s });
      covered += e - s;
    }
  }
  return { all: length > 0 && covered === length, ranges };
}

/** Zero the free ranges of a chunk's bytes in place: free blocks hash, compress and dedup as zeros. */
export function zeroRanges(data: Uint8Array, ranges: Extent[]): void {
  for (const r of ranges) data.fill(0, r.start, Math.min(data.length, r.start + r.length));
}
