/**
 * The capture pipeline: read the source chunk by chunk, hash it, ask the
 * server which chunks it lacks, compress and upload only those (in
 * parallel), then commit the manifest. A second capture of an unchanged disk
 * uploads almost nothing.
 */
import { createHash } from 'node:crypto';
import { buildManifest, DEFAULT_CHUNK_SIZE, isZero, sha256, type Manifest, type Role } from '../images/format.ts';
import { Limiter } from '../images/limit.ts';
import { checkName, describeDisk } from '../images/publish.ts';
import type { DiskReader } from '../images/source.ts';
import { compress } from '../images/zstd.ts';
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
  o: { name: string; description?: string; role?: Role; chunkSize?: number; sourcePath?: string; onProgress?: (p: { phase: string; done: number; total: number }) => void },
): Promise<{ manifest: Manifest; stats: CaptureStats }> {
  checkName(o.name);
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const role = o.role ?? 'generic';
  const table = await describeDisk(reader);
  const count = Math.ceil(reader.size / chunkSize);
  const whole = createHash('sha256');
  const chunks: (string | null)[] = [];
  const totals = { raw: reader.size, zero: 0, stored: 0, shared: 0, chunks: count, zeroChunks: 0 };
  const stats: CaptureStats = { bytesTotal: reader.size, bytesUploaded: 0, chunksUploaded: 0, chunksSkipped: 0 };
  const sent = new Set<string>();
  const limiter = new Limiter(4);

  for (let first = 0; first < count; first += BATCH) {
    const batch: { h: string; data: Buffer }[] = [];
    for (let i = first; i < Math.min(count, first + BATCH); i++) {
      const offset = i * chunkSize;
      const data = await reader.read(offset, Math.min(chunkSize, reader.size - offset));
      whole.update(data);
      if (isZero(data)) {
        chunks.push(null);
        totals.zero += data.length;
        totals.zeroChunks++;
      } else {
        const h = sha256(data);
        chunks.push(h);
        batch.push({ h, data });
      }
    }
    const missing = new Set(batch.length ? await client.missing([...new Set(batch.map((b) => b.h))]) : []);
    for (const { h, data } of batch) {
      if (!missing.has(h) || sent.has(h)) {
        totals.shared += data.length;
        stats.chunksSkipped++;
        continue;
      }
      sent.add(h);
      await limiter.run(async () => {
        const packed = await compress(data);
        const r = await client.upload(h, packed);
        stats.bytesUploaded += packed.length;
        stats.chunksUploaded++;
        if (r.stored) totals.stored += packed.length;
      });
    }
    o.onProgress?.({ phase: 'capture', done: Math.min(reader.size, (first + BATCH) * chunkSize), total: reader.size });
  }
  await limiter.drain();

  const manifest = buildManifest({
    name: o.name,
    description: o.description,
    role,
    created: new Date(),
    source: { size: reader.size, sectorSize: reader.sectorSize, format: reader.format, path: o.sourcePath },
    partitionTable: table,
    chunkSize,
    chunks,
    totals,
    sha256: whole.digest('hex'),
  });
  await client.commit(manifest);
  return { manifest, stats };
}
