/**
 * The images API for the restore agent and for capture (JSON over HTTP,
 * `Authorization: Bearer TOKEN`):
 *
 *   GET  /api/images              catalog (manifests without their chunk lists)
 *   GET  /api/images/:name        one manifest
 *   GET  /api/chunks/:hash        a compressed chunk: immutable, Range and HEAD
 *   POST /api/chunks/missing      { hashes } → { missing }: what a capture must upload
 *   PUT  /api/chunks/:hash        upload a compressed chunk; checked before it is kept
 *   POST /api/images              commit a captured manifest; published when every chunk is in
 *   POST /api/progress            a restore or capture reports how far it is
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { parseManifest, sha256, NAME_PATTERN } from '../shared/format.ts';
import { takeLock } from '../images/maintenance.ts';
import type { FileStore } from '../images/store.ts';
import { isNetrestoreError } from '../shared/errors.ts';
import { decompress } from '../shared/zstd.ts';
import type { Logger } from '../log.ts';
import { bearerToken } from './bearer.ts';

const HASH = /^[0-9a-f]{64}$/;
const MAX_CHUNK = 64 * 1024 * 1024;

export interface ImagesApiOptions {
  store: FileStore;
  log: Logger;
  /** Checks a presented bearer token. */
  authorize: (token: string | undefined) => boolean;
}

const fail = (res: Response, status: number, error: string) => res.status(status).json({ error });

// Read buffers for the chunk route: a default chunk compresses to at most a little over 4 MiB.
const READ_BUFFER = 4 * 1024 * 1024 + 64 * 1024;
const MAX_FREE_BUFFERS = 16;

export function imagesApi(o: ImagesApiOptions): express.Router {
  const r = express.Router();
  const buffers: Buffer[] = [];
  // Keeps garbage collection away while uploaded chunks wait for their manifest.
  let uploadLock: { release: () => Promise<void>; timer: NodeJS.Timeout } | undefined;
  const holdUploadLock = async () => {
    if (uploadLock) uploadLock.timer.refresh();
    else {
      const release = await takeLock(o.store, 'uploads');
      uploadLock = { release, timer: setTimeout(() => void dropLock(), 15 * 60_000) };
      uploadLock.timer.unref();
    }
  };
  const dropLock = async () => {
    const l = uploadLock;
    uploadLock = undefined;
    if (l) {
      clearTimeout(l.timer);
      await l.release();
    }
  };

  r.use((req: Request, res: Response, next: NextFunction) => {
    if (!o.authorize(bearerToken(req))) {
      o.log.warn('http.unauthorized', { method: req.method, path: req.path, from: req.ip });
      fail(res, 401, 'a valid token is required: pass --token or set NETRESTORE_TOKEN');
      return;
    }
    next();
  });

  r.get('/images', async (_req, res) => {
    const list = await o.store.listManifests();
    res.json(list.map(({ chunks: _c, ...rest }) => rest));
  });

  r.get('/images/:name', async (req, res) => {
    const name = String(req.params.name);
    const m = NAME_PATTERN.test(name) ? await o.store.readManifest(name) : undefined;
    if (!m) return void fail(res, 404, `no image named ${name}`);
    res.json(m);
  });

  r.get('/chunks/:hash', async (req, res) => {
    const hash = String(req.params.hash);
    if (!HASH.test(hash)) return void fail(res, 400, 'not a chunk hash');
    // Content-addressed: a chunk never changes, so caches may keep it forever.
    const cache = 'public, max-age=31536000, immutable';
    if (req.method === 'GET' && !req.headers.range) {
      // The restore's hot path: one read into a reused buffer and one write, no
      // stream of 64 KiB pieces and no fresh 4 MiB buffer for the collector to find.
      const buf = buffers.pop() ?? Buffer.allocUnsafe(READ_BUFFER);
      let n: number | undefined;
      try {
        n = await o.store.readChunkInto(hash, buf);
      } catch {
        buffers.push(buf);
        return void fail(res, 404, `chunk ${hash} is not in the store`);
      }
      if (n !== undefined) {
        res.set({ 'content-type': 'application/zstd', 'cache-control': cache, etag: `"${hash}"`, 'accept-ranges': 'bytes' });
        // Back in the pool only once the socket has taken every byte; a reply cut short leaves it to the collector.
        res.once('finish', () => buffers.length < MAX_FREE_BUFFERS && buffers.push(buf));
        return void res.end(buf.subarray(0, n));
      }
      buffers.push(buf); // larger than any chunk of ours: served from the file below
    }
    res.sendFile(o.store.chunkFile(hash), { headers: { 'content-type': 'application/zstd', 'cache-control': cache } }, (err) => {
      if (err && !res.headersSent) fail(res, 404, `chunk ${hash} is not in the store`);
    });
  });

  r.post('/chunks/missing', express.json({ limit: '8mb' }), async (req, res) => {
    const hashes: unknown = req.body?.hashes;
    if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === 'string' && HASH.test(h))) return void fail(res, 400, 'body must be { "hashes": [sha256 hex, …] }');
    const missing: string[] = [];
    for (const h of new Set(hashes as string[])) if (!(await o.store.hasChunk(h))) missing.push(h);
    res.json({ missing });
  });

  r.put('/chunks/:hash', express.raw({ type: () => true, limit: MAX_CHUNK + 1024 * 1024 }), async (req, res) => {
    const hash = String(req.params.hash);
    if (!HASH.test(hash)) return void fail(res, 400, 'not a chunk hash');
    const body = req.body as Buffer;
    if (!Buffer.isBuffer(body) || body.length === 0) return void fail(res, 400, 'empty chunk');
    let raw: Buffer;
    try {
      raw = await decompress(body, MAX_CHUNK);
    } catch (err) {
      return void fail(res, 400, `chunk ${hash} is not valid zstd data: ${(err as Error).message}`);
    }
    if (sha256(raw) !== hash) return void fail(res, 400, `chunk ${hash} failed its checksum on arrival: it was damaged on the way; send it again`);
    await holdUploadLock();
    const stored = await o.store.writeChunk(hash, body);
    res.status(stored ? 201 : 200).json({ stored, bytes: body.length });
  });

  r.post('/images', express.json({ limit: '64mb' }), async (req, res) => {
    let m;
    try {
      m = parseManifest(JSON.stringify(req.body), 'the committed manifest');
    } catch (err) {
      return void fail(res, 400, (err as Error).message);
    }
    const absent: string[] = [];
    for (const h of new Set(m.chunks)) if (h && !(await o.store.hasChunk(h))) absent.push(h);
    if (absent.length) return void fail(res, 409, `${absent.length} chunks of ${m.name} are not uploaded yet (first: ${absent[0]})`);
    try {
      await o.store.writeManifest(m);
    } catch (err) {
      if (isNetrestoreError(err, 'IMAGE_EXISTS')) return void fail(res, 409, err.message);
      throw err;
    }
    o.log.info('images.published', { image: m.name, bytes: m.source.size, via: 'capture', from: req.ip });
    res.status(201).json({ ok: true, image: m.name });
  });

  r.post('/progress', express.json(), (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    o.log.info('agent.progress', { from: req.ip, mode: b.mode, image: b.image, phase: b.phase, done: b.done, total: b.total, rate: b.rate });
    res.status(204).end();
  });

  return r;
}
