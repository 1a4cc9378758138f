/**
 * The real service for console tests: state and image store in a temporary
 * folder, the HTTP face with the web console on a free port, images
 * published with the real CLI, and a cookie-keeping client for HTTP tests.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Authenticate } from '../../src/console/logins.ts';
import { BIN } from '../../src/drill/service.ts';
import { buildTestDisk } from './disks.ts';
import { buildApp } from '../../src/http/server.ts';
import { FileStore } from '../../src/images/store.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { openState } from '../../src/state/db.ts';
import { openStores, type State } from '../../src/state/stores.ts';

export const ADMIN = 'console-test-admin-token';

export interface ConsoleService {
  dir: string;
  base: string;
  state: State;
  store: FileStore;
  images: string;
  events: LogEvent[];
  close(): Promise<void>;
}

export async function startConsoleService(o: { authenticate?: Authenticate; idleMs?: number; tls?: { key: string; cert: string } } = {}): Promise<ConsoleService> {
  const dir = mkdtempSync(join(tmpdir(), 'nr-console-'));
  const state = openStores(openState(join(dir, 'state.db')));
  const images = join(dir, 'images');
  const store = await new FileStore(images).init();
  const events: LogEvent[] = [];
  const log = createLogger((e) => events.push(e), 'info');
  // An empty restore environment: a drill started from the console fails at its own preflight, as on a server without build-env.
  mkdirSync(join(dir, 'boot'));
  const { app } = buildApp({
    store,
    log,
    isAdmin: (t) => t === ADMIN,
    state,
    console: { ...(o.authenticate ? { authenticate: o.authenticate } : {}), ...(o.idleMs ? { idleMs: o.idleMs } : {}), drills: { dir: join(dir, 'drills'), images, bootDir: join(dir, 'boot') } },
  });
  const server: Server = await new Promise((r) => {
    const s = o.tls ? https.createServer(o.tls, app) : http.createServer(app);
    s.listen(0, '127.0.0.1', () => r(s));
  });
  return {
    dir,
    base: `${o.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`,
    state,
    store,
    images,
    events,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Publish a disk of random bytes with the real CLI. */
export async function publishRandom(s: ConsoleService, name: string, mib: number, extra: string[] = []): Promise<void> {
  const file = join(s.dir, `${name}.raw`);
  writeFileSync(file, randomBytes(mib * 1024 * 1024));
  const r = await execa(BIN, ['publish', file, '--name', name, '--images', s.images, '--chunk-size', '1', ...extra], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`publish ${name}: ${r.all}`);
  rmSync(file);
}

/** Publish a GPT disk with FAT32, ext4 and NTFS partitions (made with the real tools) with the real CLI. */
export async function publishDisk(s: ConsoleService, name: string, description: string): Promise<void> {
  const disk = await buildTestDisk(s.dir, name, { sizeMiB: 96 });
  const r = await execa(BIN, ['publish', disk, '--name', name, '--description', description, '--role', 'file-server', '--images', s.images], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`publish ${name}: ${r.all}`);
  rmSync(disk);
}

/** A slow link in front of the service: each chunk answers after `delayMs`, so a restore takes long enough to watch. */
export async function slowLink(target: string, delayMs: number): Promise<{ base: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    const go = () => {
      const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (req.url?.startsWith('/api/chunks/')) setTimeout(go, delayMs);
    else go();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A browser-less client that keeps the console's cookies and reads each page's CSRF token. */
export class ConsoleClient {
  readonly base: string;
  cookies = new Map<string, string>();
  csrf = '';
  constructor(base: string) {
    this.base = base;
  }

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>): Promise<{ status: number; text: string; location: string | null; setCookie: string[] }> {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.base + path, { method, headers, body, redirect: 'manual' });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const v = pair!.slice(i + 1);
      if (/Max-Age=0/.test(c)) this.cookies.delete(pair!.slice(0, i));
      else this.cookies.set(pair!.slice(0, i), v);
    }
    const text = await res.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (token) this.csrf = token;
    return { status: res.status, text, location: res.headers.get('location'), setCookie };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  /** POST a form with the page's CSRF token (unless the form says otherwise). */
  post(path: string, form: Record<string, string>, o: { csrf?: string | null } = {}) {
    const token = o.csrf === undefined ? this.csrf : o.csrf;
    return this.request('POST', path, token === null ? form : { _csrf: token, ...form });
  }

  async login(name = 'admin', password = ADMIN): Promise<void> {
    await this.get('/login');
    const r = await this.post('/login', { name, password });
    if (r.status !== 303 || r.location !== '/') throw new Error(`login failed: ${r.status} ${r.text.slice(0, 300)}`);
    await this.get('/');
  }
}
