/**
 * What keeps the HTTP face standing under a careless or hostile client:
 * bounds on headers, bodies, time and concurrent uploads. Everything is in
 * one table (HttpLimits) applied in three places, each a line in server.ts:
 *
 *   serverOptions(l)   given to http.createServer (or https.createServer):
 *                      header size, whole-request and header deadlines, how
 *                      often Node checks them;
 *   applyLimits(s, l)  what Node only takes on the server object: header
 *                      count, idle sockets, requests per connection;
 *   limitRequests(l)   the first middleware: a body announced larger than
 *                      any route takes answers 413 at once (the body is
 *                      never read), chunk uploads beyond the bound answer
 *                      503 with Retry-After, and a parsed JSON body deeper
 *                      than maxJsonDepth is refused (400) before any handler
 *                      walks it.
 *
 * A header trickled in (slowloris) is cut at headersTimeout; a body
 * trickled in at requestTimeout; a socket silent in both directions at
 * idleTimeout.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Server, ServerOptions } from 'node:http';
import { fail } from './reply.ts';

export interface HttpLimits {
  /** The largest body any route takes (a 64 MiB chunk, compressed, with room): more is refused from its Content-Length. */
  maxBodyBytes: number;
  /** Nesting of a JSON body (a manifest is 4 deep). */
  maxJsonDepth: number;
  /** Bytes of the request line and headers together (Node answers 431 past them). */
  maxHeaderBytes: number;
  maxHeadersCount: number;
  /** Milliseconds to receive the headers. */
  headersTimeoutMs: number;
  /** Milliseconds to receive the whole request, body included (the largest chunk upload on a slow link fits). */
  requestTimeoutMs: number;
  /** Milliseconds a socket may stay silent both ways (a slow reader of a boot file included). */
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxRequestsPerSocket: number;
  /** Chunk uploads at once; more answer 503 with Retry-After. */
  maxUploads: number;
  retryAfterSeconds: number;
}

export const DEFAULT_LIMITS: Readonly<HttpLimits> = {
  maxBodyBytes: 65 * 1024 * 1024,
  maxJsonDepth: 32,
  maxHeaderBytes: 16 * 1024,
  maxHeadersCount: 64,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerSocket: 1000,
  maxUploads: 16,
  retryAfterSeconds: 2,
};

export const limitsWith = (l: Partial<HttpLimits> = {}): HttpLimits => ({ ...DEFAULT_LIMITS, ...l });

/** Options for http.createServer / https.createServer. */
export function serverOptions(l: HttpLimits): ServerOptions {
  return {
    maxHeaderSize: l.maxHeaderBytes,
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    // Node checks the two deadlines this often (30 s by default, which would let a slow client stay twice as long).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(l.headersTimeoutMs / 4))),
  };
}

/** What Node only takes on the server object. */
export function applyLimits(server: Server, l: HttpLimits): void {
  server.maxHeadersCount = l.maxHeadersCount;
  server.maxRequestsPerSocket = l.maxRequestsPerSocket;
  server.setTimeout(l.idleTimeoutMs, (socket) => socket.destroy());
}

/** The depth of a parsed JSON value, walked without recursion; stops counting past `max`. */
export function jsonDepth(value: unknown, max: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > deepest) deepest = d;
    if (deepest > max) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return deepest;
}

const isChunkUpload = (req: Request) => req.method === 'PUT' && req.path.startsWith('/api/chunks/');

export function limitRequests(l: HttpLimits) {
  let uploads = 0;
  return (req: Request, res: Response, next: NextFunction): void => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > l.maxBodyBytes) {
      // Answered before a byte of the body is read; the connection closes rather than drain it.
      res.set('connection', 'close');
      return void fail(res, 413, `the body is too large: ${length} bytes announced, at most ${l.maxBodyBytes} taken`, 'TOO_LARGE');
    }
    if (isChunkUpload(req)) {
      if (uploads >= l.maxUploads) {
        res.set('retry-after', String(l.retryAfterSeconds));
        return void fail(res, 503, `the server takes ${l.maxUploads} chunk uploads at once: send this one again in ${l.retryAfterSeconds} s`, 'BUSY');
      }
      uploads++;
      res.once('close', () => uploads--);
    }
    guardJsonDepth(req, l.maxJsonDepth);
    next();
  };
}

/**
 * The route's body parser sets req.body; this checks what it sets. V8's
 * JSON.parse itself does not recurse, but whatever walks the value next
 * (validation, logging, JSON.stringify) does: a value deeper than `max` is
 * thrown back into the parser, which answers 400 like any malformed JSON.
 */
function guardJsonDepth(req: Request, max: number): void {
  let body: unknown;
  Object.defineProperty(req, 'body', {
    configurable: true,
    enumerable: true,
    get: () => body,
    set: (v: unknown) => {
      if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && jsonDepth(v, max) > max) {
        throw Object.assign(new Error(`the JSON body is nested deeper than ${max} levels`), { type: 'entity.parse.failed', status: 400 });
      }
      body = v;
    },
  });
}
