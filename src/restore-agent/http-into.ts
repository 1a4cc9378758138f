/**
 * HTTP/1.1 GET over plain keep-alive connections, with the socket reading
 * straight into the caller's buffer (node:net's `onread`). node:http hands
 * every 64 KiB read over in a freshly allocated buffer; over a restore that is
 * gigabytes of garbage, and the collector marking the agent's heap again and
 * again cost more CPU than the zstd decompression. Here nothing is allocated
 * per chunk and the body is copied once, by the kernel, into its place.
 *
 * Only what the chunk route needs: a reply with a Content-Length that fits in
 * the buffer. Anything else fails with an error that names it.
 */
import net from 'node:net';

export interface IntoReply {
  status: number;
  /** A view of the caller's buffer. */
  body: Buffer;
}

/**
 * The reply could not be read into the buffer (too large, or a shape this reader does not take).
 * Internal: a signal to client.ts, which always asks again through node:http; no user sees it.
 */
export class IntoError extends Error {
  override name = 'IntoError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** Matched by name, not instanceof (see shared/errors.ts). */
export const isIntoError = (err: unknown): err is IntoError => (err as Error | undefined)?.name === 'IntoError';

const HEAD_END = Buffer.from('\r\n\r\n');

interface Pending {
  into: Buffer;
  resolve: (r: IntoReply) => void;
  reject: (err: Error) => void;
  got: number;
  /** -1 until the head is parsed. */
  length: number;
  status: number;
  close: boolean;
}

class Connection {
  readonly socket: net.Socket;
  #pending: Pending | undefined;
  // net asks for the next read's buffer right after each read, before the next
  // request is known: the first read of every reply lands here and is copied over.
  readonly #landing = Buffer.allocUnsafe(64 * 1024);
  used = false;
  closed = false;

  constructor(host: string, port: number, onClosed: (c: Connection) => void) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.#nextBuffer(), callback: (n: number, buf: Uint8Array) => (this.#read(n, buf), true) },
    });
    this.socket.on('error', (err) => this.#fail(err));
    this.socket.on('timeout', () => this.socket.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    this.socket.on('close', () => {
      this.closed = true;
      this.#fail(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));
      onClosed(this);
    });
  }

  get(path: string, host: string, headers: Record<string, string>, into: Buffer, timeoutMs: number): Promise<IntoReply> {
    this.used = true;
    this.socket.ref();
    this.socket.setTimeout(timeoutMs);
    return new Promise((resolve, reject) => {
      this.#pending = { into, resolve, reject, got: 0, length: -1, status: 0, close: false };
      const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  #nextBuffer(): Uint8Array {
    const p = this.#pending;
    return p && p.got < p.into.length ? p.into.subarray(p.got) : this.#landing;
  }

  #read(n: number, buf: Uint8Array): void {
    const p = this.#pending;
    if (!p) return void this.socket.destroy(new Error('the server sent bytes nobody asked for'));
    if (buf === this.#landing) {
      if (p.got + n > p.into.length) return this.#protocol(`the reply is larger than the ${p.into.length} bytes expected at most`, 'ETOOBIG');
      this.#landing.copy(p.into, p.got, 0, n);
    }
    p.got += n;
    if (p.length < 0) {
      const end = p.into.subarray(0, p.got).indexOf(HEAD_END);
      if (end < 0) {
        if (p.got === p.into.length) this.#protocol('the reply head does not fit in the buffer');
        return;
      }
      const head = parseHead(p.into.toString('latin1', 0, end));
      if (typeof head === 'string') return this.#protocol(head);
      if (head.length > p.into.length) return this.#protocol(`the reply holds ${head.length} bytes, more than the ${p.into.length} expected at most`, 'ETOOBIG');
      Object.assign(p, head);
      // The first bytes of the body came with the head: move them to the front.
      p.into.copyWithin(0, end + HEAD_END.length, p.got);
      p.got -= end + HEAD_END.length;
    }
    if (p.got > p.length) return this.#protocol('the server sent more than its Content-Length');
    if (p.got < p.length) return;
    this.#pending = undefined;
    this.socket.setTimeout(0);
    this.socket.unref(); // an idle connection never keeps the agent alive
    if (p.close) {
      this.closed = true; // never offered again
      this.socket.end();
    }
    p.resolve({ status: p.status, body: p.into.subarray(0, p.length) });
  }

  #protocol(why: string, code = 'EPROTO'): void {
    this.socket.destroy(new IntoError(why, code));
  }

  #fail(err: Error): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }

  get idle(): boolean {
    return !this.#pending && !this.closed;
  }
}

/** Status, Content-Length and whether the server will close, or why the head is not one this reader takes. */
export function parseHead(text: string): { status: number; length: number; close: boolean } | string {
  const [statusLine = '', ...fields] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return `not an HTTP/1.1 reply: ${statusLine.slice(0, 60)}`;
  let length = -1;
  let close = statusLine.startsWith('HTTP/1.0');
  for (const f of fields) {
    const colon = f.indexOf(':');
    const name = f.slice(0, colon).trim().toLowerCase();
    const value = f.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = /^\d+$/.test(value) ? Number(value) : -2;
    else if (name === 'transfer-encoding' && value !== 'identity') return `a ${value} reply, where a Content-Length was expected`;
    else if (name === 'connection') close = value.split(',').some((v) => v.trim() === 'close');
  }
  const status = Number(m[1]);
  if (length === -1 && (status === 204 || status === 304)) length = 0; // no body, by definition
  if (length < 0) return 'a reply without a valid Content-Length';
  return { status, length, close };
}

/** A small pool of keep-alive connections to one http:// server. */
export class HttpInto {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #idle: Connection[] = [];

  constructor(base: URL) {
    if (base.protocol !== 'http:') throw new TypeError('HttpInto speaks plain http:// only');
    this.#host = base.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(base.port || 80);
    this.#hostHeader = base.host;
  }

  /** GET `path` into `into`. A stale kept-alive connection that fails before answering is replaced once, at no cost. */
  async get(path: string, headers: Record<string, string>, into: Buffer, timeoutMs = 120_000): Promise<IntoReply> {
    for (;;) {
      const c = this.#take();
      const reused = c.used;
      try {
        const r = await c.get(path, this.#hostHeader, headers, into, timeoutMs);
        if (c.idle) this.#idle.push(c);
        return r;
      } catch (err) {
        c.socket.destroy();
        if (!reused || (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
      }
    }
  }

  close(): void {
    for (const c of this.#idle.splice(0)) c.socket.destroy();
  }

  #take(): Connection {
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) if (c.idle) return c;
    const c = new Connection(this.#host, this.#port, (gone) => {
      const i = this.#idle.indexOf(gone);
      if (i >= 0) this.#idle.splice(i, 1);
    });
    return c;
  }
}
