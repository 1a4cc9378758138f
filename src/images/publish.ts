/**
 * Publish a disk as an image: map what its filesystems use, read it chunk by
 * chunk with free space zeroed, hash, skip zeros and chunks the store already has, compress and store the rest (in parallel),
 * then write the manifest last. A failure before the manifest leaves no image.
 */
import { checkName, DEFAULT_CHUNK_SIZE, type Manifest, type Role } from '../shared/format.ts';
import { DiskScan, readLayout, type UsedMapper } from '../shared/scan.ts';
import { Limiter } from '../shared/limit.ts';
import type { DiskReader } from '../shared/disk-reader.ts';
import type { Progress } from '../shared/progress.ts';
import type { ImageStore } from './store.ts';
import { compress } from '../shared/zstd.ts';
import { NetrestoreError } from '../shared/errors.ts';

export interface PublishOptions {
  name: string;
  description?: string;
  role?: Role;
  chunkSize?: number;
  sourcePath?: string;
  /** Keep every byte, free space included (a forensic copy). */
  raw?: boolean;
  /** Reads the used-block maps (default: partclone on `sourcePath`). */
  mapUsed?: UsedMapper;
  /** Compressions in flight. */
  parallel?: number;
  onProgress?: (p: Progress<'publish'>) => void;
  now?: () => Date;
}

export async function publish(reader: DiskReader, store: ImageStore, o: PublishOptions): Promise<Manifest> {
  checkName(o.name);
  // Chunks are written before the manifest: the lock keeps garbage collection away meanwhile.
  const unlock = await store.lock(`publish-${o.name}`);
  try {
    return await publishLocked(reader, store, o);
  } finally {
    await unlock();
  }
}

async function publishLocked(reader: DiskReader, store: ImageStore, o: PublishOptions): Promise<Manifest> {
  if (await store.readManifest(o.name)) throw new NetrestoreError('IMAGE_EXISTS', `an image named ${o.name} exists already; choose another name or remove it with \`netrestore images rm ${o.name}\``);
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const role = o.role ?? 'generic';
  const layout = await readLayout(reader, { path: o.sourcePath, raw: o.raw, mapUsed: o.mapUsed });
  const table = layout.table;
  const scan = new DiskScan(reader, chunkSize, layout);
  const { totals } = scan;
  const seen = new Set<string>();
  const limiter = new Limiter(o.parallel ?? 4);

  // The limiter bounds the chunks between read and stored (memory: parallel × chunk size);
  // the next reads go on while earlier chunks are hashed and compressed.
  try {
    while (scan.chunks.length < scan.count) {
      const { offset, data, hash } = await scan.next();
      await limiter.run(async () => {
        try {
          const h = await hash;
          if (h === null) return;
          if (seen.has(h)) return void (totals.shared += data.length);
          seen.add(h); // before any await: an identical chunk behind this one counts as shared
          if (await store.hasChunk(h)) return void (totals.shared += data.length);
          const packed = await compress(data);
          if (await store.writeChunk(h, packed)) totals.stored += packed.length;
        } finally {
          scan.release(data);
        }
      });
      o.onProgress?.({ phase: 'publish', done: offset + data.length, total: reader.size });
    }
    await limiter.drain();
    const manifest = await scan.manifest({ name: o.name, description: o.description, role, created: o.now?.() ?? new Date(), sourcePath: o.sourcePath, partitionTable: table });
    await store.writeManifest(manifest);
    return manifest;
  } finally {
    await scan.close();
  }
}
