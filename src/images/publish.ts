/**
 * Publish a disk as an image: map what its filesystems use, read it chunk by
 * chunk with free space zeroed, hash, skip zeros and chunks the store already has, compress and store the rest (in parallel),
 * then write the manifest last. A failure before the manifest leaves no image.
 *
 * Then, unless --raw or --no-minimal, its minimal form (minimal-form.ts): a
 * sparse copy with the last partition's filesystem shrunk, scanned the same
 * way into the same store (its chunks dedup against the full form's), so a
 * restore onto a smaller disk can write that and grow it. The copy is a
 * temporary file, always deleted; the source is only ever read.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkName, DEFAULT_CHUNK_SIZE, type Manifest, type Role } from '../shared/format.ts';
import { DiskScan, readLayout, type DiskLayout, type UsedMapper } from '../shared/scan.ts';
import { Limiter } from '../shared/limit.ts';
import { openRawDisk, type DiskReader } from '../shared/disk-reader.ts';
import type { Progress } from '../shared/progress.ts';
import { FileStore, type ImageStore } from './store.ts';
import { compress } from '../shared/zstd.ts';
import { isNetrestoreError, NetrestoreError } from '../shared/errors.ts';
import { makeMinimalForm } from './minimal-form.ts';

export interface PublishOptions {
  name: string;
  description?: string;
  role?: Role;
  chunkSize?: number;
  sourcePath?: string;
  /** Keep every byte, free space included (a forensic copy). */
  raw?: boolean;
  /** false: no minimal form (`--no-minimal`); the image then restores only onto a disk as large as its own needs. */
  minimal?: boolean;
  /** Reads the used-block maps of the source (default: partclone on `sourcePath`). The minimal form is always mapped by partclone. */
  mapUsed?: UsedMapper;
  /** Where the minimal form's copy is made (default: the store's tmp/, else the system's). */
  tmpDir?: string;
  /** Compressions in flight. */
  parallel?: number;
  onProgress?: (p: Progress<'publish'>) => void;
  /** Something the admin should know that does not stop the publish (why there is no minimal form). */
  warn?: (s: string) => void;
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
  const seen = new Set<string>();
  const full = await scanInto(reader, store, layout, chunkSize, seen, o);
  const manifest = await full.manifest({ name: o.name, description: o.description, role, created: o.now?.() ?? new Date(), sourcePath: o.sourcePath, partitionTable: layout.table });
  if (o.raw) manifest.minimalReason = '--raw keeps every byte: no minimal form';
  else if (o.minimal === false) manifest.minimalReason = 'published with --no-minimal';
  else {
    // In the store's tmp/, named after this process: the next start or publish removes what a crash left (FileStore.removeStaleCopies).
    const copy = o.tmpDir ? join(o.tmpDir, `minimal-${process.pid}-${o.name}-${randomBytes(4).toString('hex')}.img`) : store instanceof FileStore ? store.minimalCopyPath(o.name) : join(tmpdir(), `minimal-${process.pid}-${o.name}-${randomBytes(4).toString('hex')}.img`);
    if (store instanceof FileStore) await store.removeStaleCopies();
    const r = await minimalForm(reader, store, layout, manifest, seen, copy, o);
    if ('reason' in r) {
      manifest.minimalReason = r.reason;
    } else {
      manifest.minimal = r.minimal;
      manifest.minTargetBytes = r.minimal.size;
      manifest.totals.stored += r.stored;
    }
  }
  await store.writeManifest(manifest);
  return manifest;
}

/**
 * Make, scan and store the minimal form; a form that cannot be made (a tool
 * that fails, no loop device) is a reason, not a failed publish: the image
 * is whole without it.
 */
async function minimalForm(reader: DiskReader, store: ImageStore, layout: DiskLayout, full: Manifest, seen: Set<string>, path: string, o: PublishOptions): Promise<{ minimal: NonNullable<Manifest['minimal']>; stored: number } | { reason: string }> {
  const said = (reason: string) => {
    o.warn?.(`no minimal form: ${reason}`);
    return { reason };
  };
  try {
    const made = await makeMinimalForm(reader, layout.table, path, { uses: layout.uses });
    if ('reason' in made) return said(made.reason);
    if (made.diskBytes >= full.source.size) return said('the last partition\'s filesystem is already at its smallest: the minimal form is the image itself');
    const copy = await openRawDisk(path);
    try {
      const copyLayout = await readLayout(copy, { path });
      const scan = await scanInto(copy, store, copyLayout, full.chunkSize, seen, o);
      const m = await scan.manifest({ name: full.name, description: undefined, role: full.role, created: new Date(full.created), sourcePath: undefined, partitionTable: copyLayout.table });
      return { minimal: { size: m.source.size, partitionTable: m.partitionTable, partitions: m.partitions, chunks: m.chunks, sha256: m.sha256 }, stored: m.totals.stored };
    } finally {
      await copy.close();
    }
  } catch (err) {
    if (isNetrestoreError(err, 'MINIMAL_FORM')) return said(err.message);
    throw err;
  } finally {
    await rm(path, { force: true });
  }
}

/** Read a disk chunk by chunk into the store; the scan then gives its manifest. */
async function scanInto(reader: DiskReader, store: ImageStore, layout: DiskLayout, chunkSize: number, seen: Set<string>, o: PublishOptions): Promise<DiskScan> {
  const scan = new DiskScan(reader, chunkSize, layout);
  const { totals } = scan;
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
    return scan;
  } catch (err) {
    await scan.close();
    throw err;
  }
}
