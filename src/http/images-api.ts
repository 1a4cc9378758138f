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
 *   DELETE /api/images/:name      remove an image and the chunks no other image uses (admin)
 *
 * Each route names the permission it needs (auth/access.ts says who has
 * which): a restore session sees its one image, a capture session publishes
 * its one name once, accounts by role, the admin token everything.
 */
import express from 'express';
import { imageChunks, manifestSchema, sha256, NAME_PATTERN } from '../shared/format.ts';
import { removeImage } from '../images/maintenance.ts';
import type { ImageStore } from '../images/store.ts';
import { isNetrestoreError } from '../shared/errors.ts';
import { decompress } from '../shared/zstd.ts';
import type { Logger } from '../log.ts';
import type { AuditLog } from '../state/audit.ts';
import { actorOf, addressOf, callerOf, RouteTable } from './auth.ts';
import { decide, mayReadImage } from '../auth/access.ts';
import type { SessionStore } from '../state/sessions.ts';
import { fail, input } from './reply.ts';
import { imageName, missingBody, progressBody, type ProgressReport } from './schemas.ts';
import { chunkSender } from './send-chunk.ts';

const HASH = /^[0-9a-f]{64}$/;
const MAX_CHUNK = 64 * 1024 * 1024;

export interface ImagesApiOptions {
  store: ImageStore;
  log: Logger;
  audit: AuditLog;
  /** A capture session's one publish is claimed here. */
  sessions: Pick<SessionStore, 'claimPublish' | 'releasePublish'>;
  /** Each progress report as it arrives (the console's live view). */
  onProgress?: (report: ProgressReport, from: string) => void;
}

export function imageRoutes(o: ImagesApiOptions): RouteTable {
  const r = new RouteTable();
  const sendChunk = chunkSender(o.store);
  // Keeps garbage collection away while uploaded chunks wait for their manifest.
  let uploadLock: { release: () => Promise<void>; timer: NodeJS.Timeout } | undefined;
  const holdUploadLock = async () => {
    if (uploadLock) uploadLock.timer.refresh();
    else {
      const release = await o.store.lock('uploads');
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

  r.get('/images', 'images.list', async (req, res) => {
    const caller = callerOf(res);
    const list = (await o.store.listManifests()).filter((m) => mayReadImage(caller, m.name, addressOf(req)));
    res.json(list.map(({ chunks: _c, ...rest }) => rest));
  });

  r.get('/images/:name', 'images.read', async (req, res) => {
    const name = String(req.params.name);
    const m = NAME_PATTERN.test(name) ? await o.store.readManifest(name) : undefined;
    if (!m) return void fail(res, 404, `no image named ${name}`);
    res.json(m);
  });

  r.get('/chunks/:hash', 'chunks.read', async (req, res) => {
    const hash = String(req.params.hash);
    if (!HASH.test(hash)) return void fail(res, 400, 'not a chunk hash');
    // Pooled reads for the restore's plain GETs; Range, HEAD and conditional requests streamed (send-chunk.ts).
    if (!(await sendChunk(req, res, hash))) fail(res, 404, `chunk ${hash} is not in the store`);
  });

  r.post('/chunks/missing', 'chunks.write', express.json({ limit: '8mb' }), async (req, res) => {
    const { hashes } = input(missingBody, req.body, 'body');
    const missing: string[] = [];
    for (const h of new Set(hashes)) if (!(await o.store.hasChunk(h))) missing.push(h);
    res.json({ missing });
  });

  r.put('/chunks/:hash', 'chunks.write', express.raw({ type: () => true, limit: MAX_CHUNK + 1024 * 1024 }), async (req, res) => {
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

  r.post('/images', 'images.publish', express.json({ limit: '64mb' }), async (req, res) => {
    const m = input(manifestSchema, req.body, 'the committed manifest');
    const caller = callerOf(res);
    // The name is known only now, with the body: the same decision again, with it.
    const verdict = decide(caller, 'images.publish', { address: addressOf(req), image: m.name });
    if (!verdict.pass) return void fail(res, verdict.status, verdict.reason, verdict.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN');
    const absent: string[] = [];
    for (const h of imageChunks(m)) if (!(await o.store.hasChunk(h))) absent.push(h);
    if (absent.length) return void fail(res, 409, `${absent.length} chunks of ${m.name} are not uploaded yet (first: ${absent[0]})`);
    // A capture session publishes once: claimed before the write, so two at once cannot both.
    const session = caller.kind === 'session' ? caller.session : undefined;
    if (session && !o.sessions.claimPublish(session, m.name)) return void fail(res, 403, 'this capture session has published an image already: one image per session', 'FORBIDDEN');
    try {
      await o.store.writeManifest(m);
    } catch (err) {
      if (session) o.sessions.releasePublish(session, m.name);
      if (isNetrestoreError(err, 'IMAGE_EXISTS')) return void fail(res, 409, err.message);
      throw err;
    }
    o.log.info('images.published', { image: m.name, bytes: m.source.size, via: 'capture', from: addressOf(req) });
    o.audit.record({ actor: actorOf(req, res), action: 'image-publish', image: m.name, detail: `${m.source.size} bytes, ${m.chunks.length} chunks` });
    res.status(201).json({ ok: true, image: m.name });
  });

  r.post('/progress', 'progress.report', express.json(), (req, res) => {
    const b = input(progressBody, req.body ?? {}, 'body');
    // A session's report is logged as what the session is, not as what the body claims.
    const c = callerOf(res);
    const s = c.kind === 'session' ? c.session : undefined;
    o.log.info('agent.progress', { from: addressOf(req), mac: s?.mac, mode: s?.mode ?? b.mode, image: s ? (s.image ?? b.image) : b.image, task: s?.task ?? undefined, phase: b.phase, done: b.done, total: b.total, rate: b.rate });
    o.onProgress?.(b, addressOf(req));
    res.status(204).end();
  });

  r.delete('/images/:name', 'images.delete', async (req, res) => {
    const name = input(imageName, req.params.name, 'name');
    if (!(await o.store.readManifest(name))) return void fail(res, 404, `no image named ${name}`);
    const gone = await removeImage(o.store, name);
    o.audit.record({ actor: actorOf(req, res), action: 'image-remove', image: name, detail: gone.deferred ? 'chunks kept: a publish was in progress' : `${gone.chunksDeleted} chunks, ${gone.bytesFreed} bytes freed` });
    o.log.info('images.removed', { image: name, chunks: gone.chunksDeleted, bytes: gone.bytesFreed, deferred: gone.deferred, from: req.ip });
    res.json(gone);
  });

  return r;
}
