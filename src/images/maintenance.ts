/**
 * Store maintenance: verify an image end to end, remove an image and collect
 * the chunks no other image uses (unless the store's locks say a publish is
 * writing chunks whose manifest is not written yet).
 */
import { createHash } from 'node:crypto';
import { chunkSpan, imageChunks, minimalView, sha256, type Manifest } from '../shared/format.ts';
import type { ImageStore } from './store.ts';
import { decompress } from '../shared/zstd.ts';
import type { Progress } from '../shared/progress.ts';

export interface VerifyResult {
  ok: boolean;
  image: string;
  chunks: number;
  bad: { index: number; hash: string; reason: string }[];
  sha256: boolean;
}

/** Re-read every chunk, check its hash, and the hash of the whole disk. */
export async function verifyImage(store: ImageStore, m: Manifest, onProgress?: (p: Progress<'check'>) => void): Promise<VerifyResult> {
  const whole = createHash('sha256');
  const bad: VerifyResult['bad'] = [];
  for (let i = 0; i < m.chunks.length; i++) {
    const { length } = chunkSpan(i, m.chunkSize, m.source.size);
    const h = m.chunks[i];
    if (h === null || h === undefined) {
      whole.update(Buffer.alloc(length));
    } else {
      let raw: Buffer | undefined;
      try {
        raw = await decompress(await store.readChunk(h), m.chunkSize);
      } catch (err) {
        bad.push({ index: i, hash: h, reason: (err as Error).message });
      }
      if (raw && sha256(raw) !== h) bad.push({ index: i, hash: h, reason: 'checksum mismatch' });
      whole.update(raw && raw.length === length ? raw : Buffer.alloc(length));
    }
    onProgress?.({ phase: 'check', done: Math.min((i + 1) * m.chunkSize, m.source.size), total: m.source.size });
  }
  let diskOk = whole.digest('hex') === m.sha256;
  // The minimal form is restored onto smaller disks: it is checked the same way.
  if (m.minimal) {
    const r = await verifyImage(store, minimalView(m), onProgress);
    bad.push(...r.bad.map((b) => ({ ...b, reason: `minimal form: ${b.reason}` })));
    diskOk &&= r.sha256;
  }
  return { ok: bad.length === 0 && diskOk, image: m.name, chunks: m.chunks.length, bad, sha256: diskOk };
}

export interface RemoveResult {
  removed: boolean;
  chunksDeleted: number;
  bytesFreed: number;
  /** Collection was put off because a publish or capture is writing chunks. */
  deferred: boolean;
}

/** Remove an image, then delete the chunks that no remaining image uses. */
export async function removeImage(store: ImageStore, name: string): Promise<RemoveResult> {
  const removed = await store.deleteManifest(name);
  return { removed, ...(await collectGarbage(store)) };
}

export async function collectGarbage(store: ImageStore): Promise<Omit<RemoveResult, 'removed'>> {
  // A publish writes chunks before its manifest: collecting now could take them.
  if ((await store.locks()).length > 0) return { chunksDeleted: 0, bytesFreed: 0, deferred: true };
  const used = new Set<string>();
  for (const m of await store.listManifests()) for (const h of imageChunks(m)) used.add(h);
  let chunksDeleted = 0;
  let bytesFreed = 0;
  for await (const c of store.listChunks()) {
    if (used.has(c.hash)) continue;
    await store.deleteChunk(c.hash);
    chunksDeleted++;
    bytesFreed += c.size;
  }
  return { chunksDeleted, bytesFreed, deferred: false };
}
