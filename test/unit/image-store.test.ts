/**
 * The image store's interface is all the rest of the code needs: an
 * in-memory store (test/helpers/memory-store.ts) publishes, verifies,
 * exports and imports, collects garbage under its own locks, and serves the
 * images API, chunks (pooled, Range, HEAD, conditional) and uploads included,
 * to the agent's own client for a capture and a restore.
 */
import express from 'express';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportImage, importImage } from '../../src/images/archive.ts';
import { collectGarbage, removeImage, verifyImage } from '../../src/images/maintenance.ts';
import { publish } from '../../src/images/publish.ts';
import { imageRoutes } from '../../src/http/images-api.ts';
import { RouteTable } from '../../src/http/auth.ts';
import { apiCredentials } from '../../src/http/credentials.ts';
import { openState } from '../../src/state/db.ts';
import { openStores } from '../../src/state/stores.ts';
import { createLogger } from '../../src/log.ts';
import { capture } from '../../src/restore-agent/capture.ts';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { restoreJob } from '../../src/restore-agent/jobs.ts';
import { sha256 } from '../../src/shared/format.ts';
import type { Progress } from '../../src/shared/progress.ts';
import { compress } from '../../src/shared/zstd.ts';
import { MemoryStore } from '../helpers/memory-store.ts';

const CHUNK = 64 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'nr-memory-store-'));

function memoryDisk(data: Buffer) {
  return { size: data.length, sectorSize: 512, format: 'raw', read: async (o: number, l: number) => data.subarray(o, o + l), close: async () => {} };
}

/** Random chunks, a zero chunk, a repeated chunk and a short tail. */
function sampleDisk(): Buffer {
  const a = randomBytes(CHUNK);
  return Buffer.concat([a, Buffer.alloc(CHUNK), Buffer.alloc(CHUNK, 5), a, randomBytes(1000)]);
}

async function drain(store: MemoryStore, name: string): Promise<Buffer> {
  const m = (await store.readManifest(name))!;
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await exportImage(store, m, out);
  return Buffer.concat(parts);
}

describe('an in-memory ImageStore through publish, verify, export/import and garbage collection', () => {
  it('publishes under its own lock, verifies, names a damaged chunk', async () => {
    const store = new MemoryStore();
    const locksSeen: number[] = [];
    const m = await publish(memoryDisk(sampleDisk()), store, {
      name: 'mem-1',
      chunkSize: CHUNK,
      onProgress: () => void store.locks().then((l) => locksSeen.push(l.length)),
    });
    await new Promise((r) => setImmediate(r));
    expect(locksSeen.length).toBeGreaterThan(0);
    expect(locksSeen.every((n) => n === 1)).toBe(true); // the publish held one lock while it wrote chunks
    expect(await store.locks()).toEqual([]);
    expect(m.chunks[1]).toBeNull();
    expect(m.chunks[3]).toBe(m.chunks[0]);
    expect(store.chunks.size).toBe(3);

    const phases: Progress['phase'][] = [];
    expect(await verifyImage(store, m, (p) => phases.push(p.phase))).toMatchObject({ ok: true, sha256: true, bad: [] });
    expect(new Set(phases)).toEqual(new Set(['check']));

    store.chunks.get(m.chunks[2]!)!.data = await compress(Buffer.alloc(CHUNK, 6));
    const r = await verifyImage(store, m);
    expect(r.ok).toBe(false);
    expect(r.bad).toEqual([{ index: 2, hash: m.chunks[2], reason: 'checksum mismatch' }]);
  });

  it('exports and imports into another store, checked; refuses a damaged archive; collects unused chunks', async () => {
    const from = new MemoryStore();
    const m = await publish(memoryDisk(sampleDisk()), from, { name: 'mem-2', chunkSize: CHUNK });
    const tar = await drain(from, 'mem-2');

    const to = new MemoryStore();
    const got = await importImage(to, Readable.from([tar]));
    expect(got).toEqual(m);
    expect(await to.locks()).toEqual([]);
    expect((await verifyImage(to, got)).ok).toBe(true);
    await expect(importImage(to, Readable.from([tar]))).rejects.toThrow(/exists already/);

    // A chunk's bytes changed inside the archive: the import names it and publishes nothing.
    const h = m.chunks[0]!;
    const at = tar.indexOf(Buffer.from(`chunks/${h}.zst`)) + 512;
    const bad = Buffer.from(tar);
    bad[at + 20] = bad[at + 20]! ^ 0xff;
    const third = new MemoryStore();
    await expect(importImage(third, Readable.from([bad]))).rejects.toThrow(new RegExp(`chunk ${h}`));
    expect(await third.listManifests()).toEqual([]);

    // A truncated archive is reported as such, with nothing published.
    await expect(importImage(third, Readable.from([tar.subarray(0, tar.length - 3000)]))).rejects.toThrow(/the archive of image .* is damaged or truncated/);
    expect(await third.listManifests()).toEqual([]);

    // A missing chunk cannot be exported.
    from.chunks.delete(m.chunks[2]!);
    await expect(drain(from, 'mem-2')).rejects.toThrow(/is missing from the store/);

    // Garbage collection waits for a lock, then takes only what no image uses.
    await to.writeChunk('f'.repeat(64), Buffer.from('orphan'));
    const unlock = await to.lock('uploads');
    expect(await collectGarbage(to)).toMatchObject({ deferred: true, chunksDeleted: 0 });
    await unlock();
    expect(await collectGarbage(to)).toEqual({ deferred: false, chunksDeleted: 1, bytesFreed: 6 });
    expect(await removeImage(to, 'mem-2')).toMatchObject({ removed: true, chunksDeleted: 3 });
    expect(to.chunks.size).toBe(0);
  });
});

describe('the images API on an in-memory ImageStore', () => {
  const store = new MemoryStore();
  let base = '';
  let close = () => {};
  const auth = { authorization: 'Bearer t' };
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${base}/api${path}`, { method, headers: { ...auth, ...headers } });

  beforeAll(async () => {
    const app = express();
    const log = createLogger(() => {});
    const state = openStores(openState(join(dir, 'state.db')));
    new RouteTable().include('/api', imageRoutes({ store, log, audit: state.audit, sessions: state.sessions })).mount(app, apiCredentials({ state, store, isAdmin: (t) => t === 't' }), log);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => void server.close();
  });
  afterAll(() => {
    close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a capture from the agent and restores it byte for byte', async () => {
    const client = new ImagesClient({ server: base, token: 't' });
    const disk = sampleDisk();
    const phases = new Set<string>();
    const { manifest } = await capture(client, memoryDisk(disk), { name: 'mem-cap', chunkSize: CHUNK, onProgress: (p) => phases.add(p.phase) });
    expect([...phases]).toEqual(['capture']);
    expect(await store.readManifest('mem-cap')).toEqual(manifest);

    const target = join(dir, 'restored.raw');
    const r = await restoreJob(client, { image: 'mem-cap', target, confirm: async () => true, parallel: 2 });
    expect(r).toMatchObject({ bytesTotal: disk.length, verified: true });
    expect(sha256(readFileSync(target))).toBe(sha256(disk));
  });

  it('serves a chunk whole, as a range, to HEAD and to a conditional GET, immutable', async () => {
    const m = (await store.readManifest('mem-cap'))!;
    const h = m.chunks[0]!;
    const stored = await store.readChunk(h);

    const whole = await get(`/chunks/${h}`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(whole.headers.get('etag')).toBe(`"${h}"`);
    expect(Buffer.from(await whole.arrayBuffer()).equals(stored)).toBe(true);

    const part = await get(`/chunks/${h}`, { range: 'bytes=10-109' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-109/${stored.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(stored.subarray(10, 110))).toBe(true);

    const head = await get(`/chunks/${h}`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(stored.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    // (fetch adds "cache-control: no-cache", a reload, to a conditional request that does not say otherwise.)
    expect((await get(`/chunks/${h}`, { 'if-none-match': `"${h}"`, 'cache-control': 'max-age=0' })).status).toBe(304);
    const stale = await get(`/chunks/${h}`, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(stale.status).toBe(200); // If-Range names another version: the whole chunk
    await stale.arrayBuffer();
    const beyond = await get(`/chunks/${h}`, { range: `bytes=${stored.length + 10}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${stored.length}`);
    await beyond.arrayBuffer();

    const absent = await get(`/chunks/${'e'.repeat(64)}`);
    expect(absent.status).toBe(404);
    expect(((await absent.json()) as { error: string }).error).toMatch(/is not in the store/);
    expect((await get(`/chunks/${'e'.repeat(64)}`, { range: 'bytes=0-1' })).status).toBe(404);
    expect((await fetch(`${base}/api/chunks/${h}`)).status).toBe(401);
  });

  it('streams a chunk larger than the pooled read buffers', async () => {
    const big = randomBytes(5 * 1024 * 1024);
    const h = 'a'.repeat(64);
    await store.writeChunk(h, big);
    for (let i = 0; i < 2; i++) {
      const res = await get(`/chunks/${h}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(big.length));
      expect(Buffer.from(await res.arrayBuffer()).equals(big)).toBe(true);
    }
  });
});
