/**
 * GET and HEAD of one compressed chunk, from whatever `ImageStore` holds it.
 * Content-addressed: a chunk never changes, so caches may keep it forever.
 *
 * The restore's hot path, a plain GET of a whole chunk, is one read into a
 * pooled buffer and one write: no stream of 64 KiB pieces and no fresh
 * 4 MiB buffer for the collector to find (README, the restore's data path).
 * Range, HEAD, conditional requests and a chunk larger than the pooled
 * buffers stream from the store instead.
 */
import type { Request, Response } from 'express';
import type { ImageStore } from '../images/store.ts';

// A default chunk compresses to at most a little over 4 MiB.
const READ_BUFFER = 4 * 1024 * 1024 + 64 * 1024;
const MAX_FREE_BUFFERS = 16;
const CACHE = 'public, max-age=31536000, immutable';

/** Sends chunk `hash`; false, with nothing sent, when the store lacks it. */
export type ChunkSender = (req: Request, res: Response, hash: string) => Promise<boolean>;

export function chunkSender(store: ImageStore): ChunkSender {
  const buffers: Buffer[] = [];
  return async (req, res, hash) => {
    const headers = { 'content-type': 'application/zstd', 'cache-control': CACHE, etag: `"${hash}"`, 'accept-ranges': 'bytes' };
    if (req.method === 'GET' && !req.headers.range && !req.headers['if-none-match'] && !req.headers['if-modified-since']) {
      const buf = buffers.pop() ?? Buffer.allocUnsafe(READ_BUFFER);
      let n: number | undefined;
      try {
        n = await store.readChunkInto(hash, buf);
      } catch {
        buffers.push(buf);
        return false;
      }
      if (n !== undefined) {
        res.set(headers);
        // Back in the pool only once the socket has taken every byte; a reply cut short leaves it to the collector.
        res.once('finish', () => buffers.length < MAX_FREE_BUFFERS && buffers.push(buf));
        res.end(buf.subarray(0, n));
        return true;
      }
      buffers.push(buf); // larger than any chunk of ours: streamed below
    }
    const chunk = await store.openChunk(hash).catch(() => undefined);
    if (!chunk) return false;
    res.set(headers);
    if (req.fresh) {
      res.status(304).end();
      return true;
    }
    const { size } = chunk;
    // A range only when If-Range (if any) names this chunk; several ranges get the whole chunk.
    const ifRange = req.headers['if-range'];
    const ranges = req.headers.range && (!ifRange || ifRange === headers.etag) ? req.range(size, { combine: true }) : undefined;
    if (ranges === -1) {
      res.status(416).set('content-range', `bytes */${size}`).end();
      return true;
    }
    let start = 0;
    let end = size - 1;
    if (Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1) {
      ({ start, end } = ranges[0]!);
      res.status(206).set('content-range', `bytes ${start}-${end}/${size}`);
    }
    res.set('content-length', String(end - start + 1));
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return true;
    }
    const body = chunk.stream({ start, end });
    // Gone between open and read (collected), or a read error: a reply begun cannot say so but by breaking off.
    body.once('error', (err) => {
      if (res.headersSent) return void res.destroy(err);
      res.removeHeader('content-range');
      res.status(404).json({ error: `chunk ${hash} is not in the store` });
    });
    body.pipe(res);
    return true;
  };
}
