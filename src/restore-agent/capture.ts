/**
 * The capture pipeline: map what the source's filesystems use, read it chunk
 * by chunk with free space zeroed (wholly free chunks are not read), hash it, ask the
 * server which chunks it lacks, compress and upload only those (in
 * parallel), then commit the manifest. A second capture of an unchanged disk
 * uploads almost nothing.
 */
import { checkName, DEFAULT_CHUNK_SIZE, type Manifest, type Role } from '../shared/format.ts';
import { DiskScan, readLayout, type UsedMapper } from '../shared/scan.ts';
import { Limiter } from '../shared/limit.ts';
import type { DiskReader } from '../shared/disk-reader.ts';
import type { Progress } from '../shared/progress.ts';
import { compress } from '../shared/zstd.ts';
import type { ImagesClient } from './client.ts';

export interface CaptureStats {
  bytesTotal: number;
  bytesUploaded: number;
  chunksUploaded: number;
  chunksSkipped: number;
}

/** Chunks read before asking the server which it lacks: bounds memory to BATCH × chunk size. */
const BATCH = 16;

export async function capture(
  client: ImagesClient,
  reader: DiskReader,
  o: { name: string; description?: string; role?: Role; chunkSize?: number; sourcePath?: string; raw?: boolean; mapUsed?: UsedMapper; onProgress?: (p: Progress<'capture'>) => void },
): Promise<{ manifest: Manifest; stats: CaptureStats }> {
  checkName(o.name);
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const role = o.role ?? 'generic';
  const layout = await readLayout(reader, { path: o.sourcePath, raw: o.raw, mapUsed: o.mapUsed });
  const table = layout.table;
  const scan = new DiskScan(reader, chunkSize, layout);
  const { totals } = scan;
  const stats: CaptureStats = { bytesTotal: reader.size, bytesUploaded: 0, chunksUploaded: 0, chunksSkipped: 0 };
  const sent = new Set<string>();
  const limiter = new Limiter(4);

  try {
    for (let first = 0; first < scan.count; first += BATCH) {
      const read: { hash: Promise<string | null>; data: Buffer }[] = [];
      while (scan.chunks.length < Math.min(scan.count, first + BATCH)) read.push(await scan.next());
      const batch: { h: string; data: Buffer }[] = [];
      for (const { hash, data } of read) {
        const h = await hash;
        if (h !== null) batch.push({ h, data });
        else scan.release(data);
      }
      const missing = new Set(batch.length ? await client.missing([...new Set(batch.map((b) => b.h))]) : []);
      for (const { h, data } of batch) {
        if (!missing.has(h) || sent.has(h)) {
          totals.shared += data.length;
          stats.chunksSkipped++;
          scan.release(data);
          continue;
        }
        sent.add(h);
        await limiter.run(async () => {
          try {
            const packed = await compress(data);
            const r = await client.upload(h, packed);
            stats.bytesUploaded += packed.length;
            stats.chunksUploaded++;
            if (r.stored) totals.stored += packed.length;
          } finally {
            scan.release(data);
          }
        });
      }
      o.onProgress?.({ phase: 'capture', done: Math.min(reader.size, (first + BATCH) * chunkSize), total: reader.size });
    }
    await limiter.drain();

    const manifest = await scan.manifest({ name: o.name, description: o.description, role, created: new Date(), sourcePath: o.sourcePath, partitionTable: table });

    await client.commit(manifest);
    return { manifest, stats };
  } finally {
    await scan.close();
  }
}
