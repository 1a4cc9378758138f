/** Store size and dedup ratio from the manifests and the chunk sizes: pure. */
import type { Manifest } from '../shared/format.ts';

export interface StoreSummary {
  images: number;
  /** Bytes of chunk files on disk (compressed). */
  storedBytes: number;
  /** Bytes of data the images hold (their disks less free and zero areas). */
  logicalBytes: number;
  /** logical / stored: what deduplication and compression save together; 0 for an empty store. */
  dedupRatio: number;
}

export function storeSummary(manifests: Pick<Manifest, 'source' | 'totals'>[], chunkSizes: Iterable<number>): StoreSummary {
  let storedBytes = 0;
  for (const s of chunkSizes) storedBytes += s;
  const logicalBytes = manifests.reduce((n, m) => n + Math.max(0, m.source.size - m.totals.free - m.totals.zero), 0);
  return { images: manifests.length, storedBytes, logicalBytes, dedupRatio: storedBytes > 0 ? logicalBytes / storedBytes : 0 };
}
