/**
 * The agent's side of the images API. Network failures and 5xx answers are
 * retried with backoff: a server restarting in the middle of a restore costs
 * a pause, not the restore.
 */
import type { Manifest } from '../images/format.ts';
import { parseManifest } from '../images/format.ts';

export class ServerError extends Error {
  override name = 'ServerError';
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export interface ClientOptions {
  server: string;
  token: string | undefined;
  /** How long to keep retrying an unreachable server. */
  retryForMs?: number;
  onRetry?: (what: string, attempt: number, reason: string) => void;
}

export class ImagesClient {
  readonly #base: string;
  readonly #o: ClientOptions;

  constructor(o: ClientOptions) {
    this.#base = o.server.replace(/\/+$/, '');
    this.#o = o;
  }

  async #request(method: string, path: string, body?: { json?: unknown; bytes?: Buffer }): Promise<Response> {
    const deadline = Date.now() + (this.#o.retryForMs ?? 120_000);
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      try {
        const headers: Record<string, string> = {};
        if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
        let payload: BodyInit | undefined;
        if (body?.json !== undefined) {
          headers['content-type'] = 'application/json';
          payload = JSON.stringify(body.json);
        } else if (body?.bytes) {
          headers['content-type'] = 'application/zstd';
          payload = new Uint8Array(body.bytes);
        }
        const res = await fetch(this.#base + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(120_000) });
        if (res.status < 500) return res;
        reason = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (err) {
        reason = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      }
      if (Date.now() > deadline) throw new ServerError(`the server ${this.#base} did not answer ${method} ${path} (${reason}); check that \`netrestore serve\` runs and is reachable`);
      this.#o.onRetry?.(`${method} ${path}`, attempt, reason);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }

  async #json<T>(res: Response, what: string): Promise<T> {
    if (res.ok) return (await res.json()) as T;
    const err = ((await res.json().catch(() => ({}))) as { error?: string }).error ?? res.statusText;
    if (res.status === 401) throw new ServerError(`the server refused the token: ${err}`, 401);
    throw new ServerError(`${what}: ${err}`, res.status);
  }

  async manifest(name: string): Promise<Manifest> {
    const res = await this.#request('GET', `/api/images/${encodeURIComponent(name)}`);
    if (res.ok) return parseManifest(await res.text(), `the manifest of image ${name}`);
    return this.#json(res, `image ${name}`);
  }

  async catalog(): Promise<Omit<Manifest, 'chunks'>[]> {
    return this.#json(await this.#request('GET', '/api/images'), 'the image catalog');
  }

  async chunk(hash: string): Promise<Buffer> {
    const res = await this.#request('GET', `/api/chunks/${hash}`);
    if (!res.ok) return this.#json(res, `chunk ${hash}`);
    return Buffer.from(await res.arrayBuffer());
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

  /** Best effort: progress reports never stop the work. */
  async progress(p: Record<string, unknown>): Promise<void> {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
      await fetch(this.#base + '/api/progress', { method: 'POST', headers, body: JSON.stringify(p), signal: AbortSignal.timeout(3000) });
    } catch {
      // the server may be restarting; the next report will do
    }
  }
}
