/**
 * Store maintenance: verify an image end to end, remove an image and collect
 * the chunks no other image uses, and the publish locks that keep the
 * collector away from chunks whose manifest is not written yet.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkSpan, sha256, type Manifest } from '../shared/format.ts';
import type { FileStore, ImageStore } from './store.ts';
import { decompress } from '../shared/zstd.ts';
import type { Progress } from './publish.ts';

export interface VerifyResult {
  ok: boolean;
  image: string;
  chunks: number;
  bad: { index: number; hash: string; reason: string }[];
  sha256: boolean;
}

/** Re-read every chunk, check its hash, and the hash of the whole disk. */
export async function verifyImage(store: ImageStore, m: Manifest, onProgress?: (p: Progress) => void): Promise<VerifyResult> {
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
    onProgress?.({ phase: 'verify', done: Math.min((i + 1) * m.chunkSize, m.source.size), total: m.source.size });
  }
  const diskOk = whole.digest('hex') === m.sha256;
  return { ok: bad.length === 0 && diskOk, image: m.name, chunks: m.chunks.length, bad, sha256: diskOk };
}

// ---- publish locks ----

export async function takeLock(store: FileStore, what: string): Promise<() => Promise<void>> {
  const file = join(store.root, 'tmp', `${process.pid}-${what.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`);
  await writeFile(file, String(process.pid));
  return () => rm(file, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Publishes and uploads in progress (locks of live processes). */
export async function activeLocks(store: FileStore): Promise<string[]> {
  const out: string[] = [];
  for (const f of await readdir(join(store.root, 'tmp')).catch(() => [])) {
    if (!f.endsWith('.lock')) continue;
    const pid = Number(await readFile(join(store.root, 'tmp', f), 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(pid) && alive(pid)) out.push(f);
  }
  return out;
}

export interface RemoveResult {
  removed: boolean;
  chunksDeleted: number;
  bytesFreed: number;
  /** Collection was put off because a publish or capture is writing chunks. */
  deferred: boolean;
}

/** Remove an image, then delete the chunks that no remaining image uses. */
export async function removeImage(store: FileStore, name: string): Promise<RemoveResult> {
  const removed = await store.deleteManifest(name);
  return { removed, ...(await collectGarbage(store)) };
}

export async function collectGarbage(store: FileStore): Promise<Omit<RemoveResult, 'removed'>> {
  // A publish writes chunks before its manifest: collecting now could take them.
  if ((await activeLocks(store)).length > 0) return { chunksDeleted: 0, bytesFreed: 0, deferred: true };
  const used = new Set<string>();
  for (const m of await store.listManifests()) for (const h of m.chunks) if (h) used.add(h);
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
