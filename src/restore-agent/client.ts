/**
 * The agent's side of the images API. Network failures and 5xx answers are
 * retried with backoff: a server restarting in the middle of a restore costs
 * a pause, not the restore.
 */
import http from 'node:http';
import https from 'node:https';
import type { Manifest } from '../shared/format.ts';
import { parseManifest } from '../shared/format.ts';
import { HttpInto, isIntoError } from './http-into.ts';
import { CATALOGUE, NetrestoreError, type ErrorCode } from '../shared/errors.ts';
import { httpsAgent, tlsFailure } from './tls-agent.ts';

interface Reply {
  status: number;
  ok: boolean;
  body: Buffer;
}

// Keep-alive: a restore asks for thousands of chunks from the same server.
const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** node:http rather than fetch: the body lands in one buffer sized from content-length, with no stream layers. */
function send(url: URL, method: string, headers: Record<string, string>, payload: Buffer | undefined, agent: http.Agent, timeoutMs = 120_000): Promise<Reply> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: payload ? { ...headers, 'content-length': String(payload.length) } : headers, agent, timeout: timeoutMs }, (res) => {
      const length = Number(res.headers['content-length'] ?? -1);
      const parts: Buffer[] = [];
      let into = length >= 0 ? Buffer.allocUnsafe(length) : undefined;
      let got = 0;
      res.on('data', (d: Buffer) => {
        if (into && got + d.length <= into.length) d.copy(into, got);
        else {
          if (into) parts.push(into.subarray(0, got));
          into = undefined;
          parts.push(d);
        }
        got += d.length;
      });
      res.on('end', () => {
        if (into && got !== into.length) return reject(new Error(`short body: ${got} of ${into.length} bytes`));
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, body: into ?? Buffer.concat(parts) });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('connection lost mid-body')));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface ClientOptions {
  server: string;
  token: string | undefined;
  /** SHA-256 fingerprint of an https:// server's certificate (`sha256:HEX`): trusted instead of a CA (tls-agent.ts). */
  fingerprint?: string | undefined;
  /** How long to keep retrying an unreachable server. */
  retryForMs?: number;
  onRetry?: (what: string, attempt: number, reason: string) => void;
}

export class ImagesClient {
  readonly #base: string;
  readonly #o: ClientOptions;
  // Chunks from an http:// server are read straight into the restore's buffers.
  readonly #into: HttpInto | undefined;
  readonly #agent: http.Agent;

  constructor(o: ClientOptions) {
    this.#base = o.server.replace(/\/+$/, '');
    this.#o = o;
    const base = new URL(this.#base);
    if (o.fingerprint !== undefined && base.protocol !== 'https:') {
      throw new NetrestoreError('USAGE', `a fingerprint pins an https:// server's certificate, and ${this.#base} is not one: give the server as https://…`);
    }
    this.#into = base.protocol === 'http:' ? new HttpInto(base) : undefined;
    this.#agent = base.protocol === 'https:' ? httpsAgent(o.fingerprint) : plainAgent;
  }

  /** One request with retries; the whole body in one buffer (chunks are at most a few MiB), `bodyInto` for a GET that gives one. */
  async #request(method: string, path: string, body?: { json?: unknown; bytes?: Buffer }, bodyInto?: Buffer): Promise<Reply> {
    const deadline = Date.now() + (this.#o.retryForMs ?? 120_000);
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      try {
        const headers: Record<string, string> = {};
        if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
        let payload: Buffer | undefined;
        if (body?.json !== undefined) {
          headers['content-type'] = 'application/json';
          payload = Buffer.from(JSON.stringify(body.json));
        } else if (body?.bytes) {
          headers['content-type'] = 'application/zstd';
          payload = body.bytes;
        }
        const url = new URL(this.#base + path);
        const res = bodyInto && this.#into ? await this.#getInto(this.#into, url, headers, bodyInto) : await send(url, method, headers, payload, this.#agent);
        // 429: too many wrong logins from this address (someone else's, perhaps): retried like a busy server.
        if (res.status < 500 && res.status !== 429) return res;
        reason = `HTTP ${res.status}`;
      } catch (err) {
        // The wrong server, or one that cannot be verified: no retry mends that.
        const tls = tlsFailure(err, this.#base);
        if (tls) throw tls;
        reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
      if (Date.now() > deadline) throw new NetrestoreError('SERVER_UNREACHABLE', `the server ${this.#base} did not answer ${method} ${path} (${reason}); check that \`netrestore serve\` runs and is reachable`);
      this.#o.onRetry?.(`${method} ${path}`, attempt, reason);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }

  /** A reply too large for the buffer, or of a shape it does not take (a proxy's chunked encoding), is asked for again through node:http. */
  async #getInto(into: HttpInto, url: URL, headers: Record<string, string>, buf: Buffer): Promise<Reply> {
    try {
      const r = await into.get(url.pathname + url.search, headers, buf);
      return { ...r, ok: r.status >= 200 && r.status < 300 };
    } catch (err) {
      if (isIntoError(err)) return send(url, 'GET', headers, undefined, this.#agent);
      throw err;
    }
  }

  #json<T>(res: Reply, what: string): T {
    if (res.ok) return JSON.parse(res.body.toString('utf8')) as T;
    let err = `HTTP ${res.status}`;
    let code: unknown;
    try {
      ({ error: err = err, code } = JSON.parse(res.body.toString('utf8')) as { error?: string; code?: unknown });
    } catch {
      // not JSON: keep the status
    }
    if (res.status === 401) throw new NetrestoreError('TOKEN_REFUSED', `the server refused the token (${err}): pass the admin token with --token or NETRESTORE_TOKEN`);
    // The server's own code where it sends one; its 404 for an image by the words until it does.
    if (typeof code === 'string' && code !== 'INTERNAL' && Object.hasOwn(CATALOGUE, code)) throw new NetrestoreError(code as ErrorCode, `${what}: ${err}`);
    if (res.status === 404 && /^no image named /.test(err)) throw new NetrestoreError('IMAGE_NOT_FOUND', `${what}: ${err}`);
    throw new NetrestoreError('SERVER_ERROR', `${what}: ${err}`);
  }

  /** The published images, without their chunk lists. */
  /**
   * The login GRUB could not ask for (netrestore.login=console): on success
   * this client carries the session token from then on.
   */
  async consoleLogin(l: { mac: string; mode: string; image: string; username: string; password: string }): Promise<void> {
    const res = await this.#request('POST', '/console-login', { json: l });
    const body = JSON.parse(res.body.toString() || '{}') as { token?: string; error?: string };
    if (!res.ok || !body.token) throw new NetrestoreError('TOKEN_REFUSED', `the server refused the login: ${body.error ?? `HTTP ${res.status}`}`);
    this.#o.token = body.token;
  }

  async catalog(): Promise<Omit<Manifest, 'chunks'>[]> {
    return this.#json(await this.#request('GET', '/api/images'), 'listing the images');
  }

  async manifest(name: string): Promise<Manifest> {
    const res = await this.#request('GET', `/api/images/${encodeURIComponent(name)}`);
    if (res.ok) return parseManifest(res.body.toString('utf8'), `the manifest of image ${name}`);
    return this.#json(res, `image ${name}`);
  }

  /** A file of the service's boot directory (GET /boot/NAME, public like the initrd): an add-on of the restore environment. */
  async bootFile(name: string): Promise<Buffer> {
    const res = await this.#request('GET', `/boot/${name.split('/').map(encodeURIComponent).join('/')}`);
    if (res.status === 404) throw new NetrestoreError('BOOT_FILE_NOT_FOUND', `the service has no ${name} in its boot directory: run \`netrestore build-env\` into it`);
    if (!res.ok) throw new NetrestoreError('SERVER_ERROR', `GET /boot/${name}: HTTP ${res.status}`);
    return res.body;
  }

  /** A compressed chunk; in `into` (a view of it) when it fits there. */
  async chunk(hash: string, into?: Buffer): Promise<Buffer> {
    const res = await this.#request('GET', `/api/chunks/${hash}`, undefined, into);
    if (!res.ok) return this.#json(res, `chunk ${hash}`);
    return res.body;
  }

  async missing(hashes: string[]): Promise<string[]> {
    return (await this.#json<{ missing: string[] }>(await this.#request('POST', '/api/chunks/missing', { json: { hashes } }), 'asking which chunks the server lacks')).missing;
  }

  async upload(hash: string, compressed: Buffer): Promise<{ stored: boolean; bytes: number }> {
    return this.#json(await this.#request('PUT', `/api/chunks/${hash}`, { bytes: compressed }), `uploading chunk ${hash}`);
  }

  async commit(m: Manifest): Promise<void> {
    await this.#json(await this.#request('POST', '/api/images', { json: m }), `publishing ${m.name}`);
  }

  /** Report the state of a one-shot task (started, done, failed). */
  async taskState(id: number, state: 'started' | 'done' | 'failed', extra: { error?: string; bytes?: number } = {}): Promise<void> {
    const res = await this.#request('POST', `/api/tasks/${id}`, { json: { state, ...extra } });
    if (!res.ok) this.#json(res, `reporting task ${id} ${state}`);
  }

  /** Best effort: progress reports never stop the work. */
  async progress(p: Record<string, unknown>): Promise<void> {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
      await send(new URL(this.#base + '/api/progress'), 'POST', headers, Buffer.from(JSON.stringify(p)), this.#agent, 3000);
    } catch {
      // the server may be restarting; the next report will do
    }
  }
}
