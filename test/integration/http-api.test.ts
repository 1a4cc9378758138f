/**
 * The HTTP face's one route table, walked: every route with no token, a
 * wrong token, a boot session token and the admin token answers as its
 * declared scope says; paths no route declares answer 404 whatever the
 * token; bad input answers 400 with { error, code }; and what admins change
 * through the API is in `netrestore audit`.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { buildApp } from '../../src/http/server.ts';
import type { RouteInfo } from '../../src/http/auth.ts';
import { FileStore } from '../../src/images/store.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { BootFace } from '../../src/menus/boot-face.ts';
import { Renderer } from '../../src/menus/render.ts';
import { buildManifest, sha256 } from '../../src/shared/format.ts';
import { compress } from '../../src/shared/zstd.ts';
import { openState } from '../../src/state/db.ts';
import { openStores, type State } from '../../src/state/stores.ts';
import type { AuditEntry } from '../../src/state/audit.ts';

const ADMIN = 'http-api-admin-token';
const MAC = '52:54:00:77:00:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-http-api-'));
const stateFile = join(dir, 'state.db');
const events: LogEvent[] = [];
let server: Server;
let base: string;
let routes: RouteInfo[];
let declared: { method: string; path: string }[];
let state: State;
let session: string;
let taskId: number;

beforeAll(async () => {
  const db = openState(stateFile);
  state = openStores(db);
  const store = await new FileStore(join(dir, 'images')).init();
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  const log = createLogger((e) => events.push(e), 'debug');
  const face = new BootFace({
    http: { apiBase: 'http://127.0.0.1:1', store }, hosts: state.hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, renderer: new Renderer(), log,
    settings: { title: 't', timeoutSeconds: 5, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' },
    checkLogin: () => false,
  });
  const built = buildApp({ store, log, isAdmin: (t) => t === ADMIN, state, boot: { base: 'http://127.0.0.1:1', bootDir: join(dir, 'boot'), face } });
  routes = built.routes;
  // What express really holds: every route layer, to hold against the table.
  declared = (built.app.router.stack as { route?: { path: string; methods: Record<string, boolean> } }[])
    .filter((l) => l.route)
    .flatMap((l) => Object.keys(l.route!.methods).filter((m) => m !== '_all').map((m) => ({ method: m, path: String(l.route!.path) })));
  server = await new Promise<Server>((r) => {
    const s = built.app.listen(0, '127.0.0.1', () => r(s));
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  state.hosts.upsert({ mac: MAC, name: 'walk' });
  taskId = state.tasks.create(MAC, 'restore', 'fs01', null).id;
  session = state.sessions.open({ mac: MAC, mode: 'restore', image: 'fs01', task: taskId }, 3600_000);
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const call = async (method: string, path: string, o: { token?: string; json?: unknown; raw?: string | Buffer; type?: string } = {}) => {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | Blob | undefined;
  if (o.json !== undefined) (headers['content-type'] = 'application/json'), (body = JSON.stringify(o.json));
  if (o.raw !== undefined) (headers['content-type'] = o.type ?? 'application/json'), (body = typeof o.raw === 'string' ? o.raw : new Blob([new Uint8Array(o.raw)]));
  const res = await fetch(base + path, { method: method.toUpperCase(), headers, body });
  const text = await res.text();
  let json: { error?: string; code?: string } | undefined;
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
};

const REGEX_SAMPLES: Record<string, string> = { '^\\/boot\\/(.+)$': '/boot/vmlinuz' };

/** A concrete path for a route: parameters filled with values that exist where it matters (the session's task). */
function sample(r: RouteInfo): string {
  if (r.path instanceof RegExp) {
    const s = REGEX_SAMPLES[r.path.source];
    if (!s) throw new Error(`no sample path for the route pattern ${r.path.source}: add one to REGEX_SAMPLES`);
    return s;
  }
  return r.path.replace(/:(\w+)/g, (_m, p: string) => ({ mac: MAC, id: String(taskId), hash: 'f'.repeat(64), name: 'walk-nothing' })[p] ?? `unknown-param-${p}`);
}

describe('the route table', () => {
  it('declares every route express serves, each with a known scope', () => {
    expect(routes.length).toBeGreaterThan(10);
    const table = new Set(routes.map((r) => `${r.method} ${String(r.path)}`));
    for (const d of declared) expect(table, `${d.method} ${d.path} is served but not in the route table`).toContain(`${d.method} ${d.path}`);
    expect(declared.length).toBe(routes.length);
    for (const r of routes) expect(['public', 'session', 'admin'], `${r.method} ${String(r.path)}`).toContain(r.scope);
    for (const r of routes) if (typeof r.path === 'string' && r.path.startsWith('/api/')) expect(r.scope, `${r.method} ${r.path}`).not.toBe('public');
  });

  it('answers every route as its scope says, for no token, a wrong one, a session token and the admin token', async () => {
    const tokens = { none: undefined, wrong: 'not-a-token', session, admin: ADMIN } as const;
    const want = (scope: RouteInfo['scope'], who: keyof typeof tokens): 'pass' | 401 | 403 => {
      if (scope === 'public' || who === 'admin') return 'pass';
      if (who === 'none' || who === 'wrong') return 401;
      return scope === 'session' ? 'pass' : 403;
    };
    // Read-only and harmless calls first; the ones that remove things last, so that earlier calls still find what they need.
    const order = [...routes].sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
    const seen: string[] = [];
    for (const r of order) {
      for (const who of ['none', 'wrong', 'session', 'admin'] as const) {
        const path = sample(r);
        const got = await call(r.method, path, { token: tokens[who] });
        const label = `${r.method.toUpperCase()} ${path} (${r.scope}) with ${who}: ${got.status} ${got.text.slice(0, 120)}`;
        const w = want(r.scope, who);
        if (w === 'pass') {
          expect([401, 403], label).not.toContain(got.status);
          // A public route needs nothing more: it answers; a guarded one may still refuse the (empty) input.
          expect(got.status, label).toBeLessThan(r.scope === 'public' ? 400 : 500);
        } else {
          expect(got.status, label).toBe(w);
          expect(got.json?.code, label).toBe(w === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN');
        }
        seen.push(label);
      }
    }
    expect(seen.length).toBe(routes.length * 4);
  });

  it('refuses a session token for another task with 403', async () => {
    const other = state.sessions.open({ mac: '52:54:00:77:00:02', mode: 'restore', image: 'fs01', task: taskId + 1000 }, 3600_000);
    const r = await call('post', `/api/tasks/${taskId}`, { token: other, json: { state: 'started' } });
    expect(r.status).toBe(403);
    expect(r.json?.code).toBe('FORBIDDEN');
  });

  it('answers 404 for a path no route declares, with or without a token', async () => {
    for (const token of [undefined, 'not-a-token', session, ADMIN]) {
      for (const [method, path] of [['get', '/api/nothing'], ['get', '/api'], ['get', '/api/hosts/x/y/z'], ['post', '/api/hosts'], ['patch', '/api/hosts'], ['put', '/api/images'], ['get', '/elsewhere']] as const) {
        const r = await call(method, path, { token });
        expect(r.status, `${method} ${path} with ${token ?? 'no token'}`).toBe(404);
        expect(r.json, `${method} ${path}`).toEqual({ error: 'not found', code: 'NOT_FOUND' });
      }
    }
  });
});

describe('bad input', () => {
  it('answers malformed JSON with 400 BAD_JSON, and checks the token before it reads the body', async () => {
    for (const [method, path, token] of [['put', `/api/hosts/${MAC}`, ADMIN], ['post', `/api/hosts/${MAC}/task`, ADMIN], ['post', '/api/chunks/missing', session], ['post', `/api/tasks/${taskId}`, session], ['post', '/api/images', ADMIN], ['post', '/api/progress', session]] as const) {
      const r = await call(method, path, { token, raw: '{"name": ' });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(400);
      expect(r.json?.code).toBe('BAD_JSON');
      expect(typeof r.json?.error).toBe('string');
      expect((await call(method, path, { raw: '{"name": ' })).status).toBe(401);
    }
  });

  it('answers a body, a parameter or a query that does not fit its schema with 400 BAD_REQUEST naming the field', async () => {
    const cases: [string, string, { token: string; json?: unknown }, RegExp][] = [
      ['post', `/api/hosts/${MAC}/task`, { token: ADMIN, json: { kind: 'wipe', image: 'fs01' } }, /body\.kind/],
      ['post', `/api/hosts/${MAC}/task`, { token: ADMIN, json: { kind: 'restore', image: '../etc' } }, /body\.image/],
      ['post', `/api/hosts/${MAC}/task`, { token: ADMIN, json: [] }, /body/],
      ['put', `/api/hosts/${MAC}`, { token: ADMIN, json: { menuTimeout: 0 } }, /menuTimeout takes whole seconds/],
      ['put', `/api/hosts/${MAC}`, { token: ADMIN, json: { ignore: 'yes' } }, /body\.ignore/],
      ['put', `/api/hosts/${MAC}`, { token: ADMIN, json: { nmae: 'typo' } }, /nmae/],
      ['put', '/api/hosts/not-a-mac', { token: ADMIN, json: {} }, /not-a-mac is not a MAC address/],
      ['get', '/api/audit?since=yesterday', { token: ADMIN }, /query\.since: yesterday is neither/],
      ['get', '/api/audit?limit=0', { token: ADMIN }, /query\.limit/],
      ['get', '/api/audit?host=1&host=2', { token: ADMIN }, /query\.host/],
      ['get', '/api/history?limit=x', { token: ADMIN }, /query\.limit/],
      ['post', `/api/tasks/${taskId}`, { token: session, json: { state: 'exploded' } }, /body\.state/],
      ['post', `/api/tasks/${taskId}`, { token: session, json: { state: 'done', bytes: -1 } }, /body\.bytes/],
      ['post', '/api/chunks/missing', { token: session, json: { hashes: ['zz'] } }, /body\.hashes\.0/],
      ['post', '/api/images', { token: ADMIN, json: { format: 'netrestore-image' } }, /the committed manifest/],
      ['delete', '/api/images/-bad', { token: ADMIN }, /name: not an image name/],
    ];
    const before = state.tasks.get(taskId);
    for (const [method, path, o, message] of cases) {
      const r = await call(method, path, o);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(400);
      expect(r.json?.code, path).toBe('BAD_REQUEST');
      expect(r.json?.error, path).toMatch(message);
    }
    expect(state.tasks.get(taskId)).toEqual(before); // nothing bad got through
  });

  it('still answers iPXE with a script when its query is missing or odd', async () => {
    for (const path of ['/boot.ipxe', '/boot.ipxe?mac=1&mac=2', '/boot.ipxe?mac[a]=1', '/auth.ipxe', '/auth.ipxe?mac=x&mode=restore&password=a&password=b']) {
      const r = await call('get', path);
      expect(r.status, path).toBe(200);
      expect(r.text, path).toMatch(/^#!ipxe/);
    }
  });
});

describe('the audit log', () => {
  it('records what admins change through the API, and `netrestore audit` shows it', async () => {
    const mac = '52:54:00:77:00:09';
    expect((await call('put', `/api/hosts/${mac}`, { token: ADMIN, json: { name: 'sql01' } })).status).toBe(200);
    expect((await call('put', `/api/hosts/${mac}`, { token: ADMIN, json: { notes: 'rack 4' } })).status).toBe(200);
    const task = await call('post', `/api/hosts/${mac}/task`, { token: ADMIN, json: { kind: 'restore', image: 'fs01' } });
    expect(task.status).toBe(201);
    expect((await call('delete', `/api/hosts/${mac}/task`, { token: ADMIN })).json).toEqual({ cancelled: 1 });
    expect((await call('post', `/api/hosts/${mac}/task`, { token: ADMIN, json: { kind: 'capture', image: 'sql01-new' } })).status).toBe(201);
    expect((await call('delete', `/api/hosts/${mac}`, { token: ADMIN })).json).toEqual({ removed: mac, cancelled: 1 });
    expect((await call('get', '/api/hosts', { token: ADMIN })).text).not.toContain(mac);

    // A capture publishes through the API with its session token; the admin removes the image.
    const raw = randomBytes(4096);
    const hash = sha256(raw);
    const z = await compress(raw);
    expect((await call('put', `/api/chunks/${hash}`, { token: session, raw: z, type: 'application/octet-stream' })).status).toBe(201);
    const m = buildManifest({
      name: 'walk-img', description: 'audit walk', role: 'generic', created: new Date(), source: { size: 4096, sectorSize: 512, format: 'raw', path: undefined },
      partitionTable: { type: 'none', partitions: [] }, chunkSize: 4096, chunks: [hash], totals: { raw: 4096, zero: 0, stored: z.length, shared: 0, chunks: 1, zeroChunks: 0, free: 0 }, sha256: hash, partitions: [], minTargetBytes: 4096,
    });
    expect((await call('post', '/api/images', { token: session, json: m })).status).toBe(201);
    expect((await call('delete', '/api/images/walk-img', { token: ADMIN })).status).toBe(200);
    expect((await call('delete', '/api/images/walk-img', { token: ADMIN })).status).toBe(404);

    const r = await execa(BIN, ['audit', '--state', stateFile, '--json', '--limit', '1000'], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    const rows = JSON.parse(r.stdout) as AuditEntry[];
    const admin = 'api admin (127.0.0.1)';
    const about = rows.filter((e) => e.mac === mac).reverse();
    expect(about.map((e) => [e.actor, e.action, e.image])).toEqual([
      [admin, 'host-add', null],
      [admin, 'host-edit', null],
      [admin, 'task-create', 'fs01'],
      [admin, 'task-cancel', 'fs01'],
      [admin, 'task-create', 'sql01-new'],
      [admin, 'host-remove', null],
    ]);
    expect(about[0]!.detail).toContain('sql01');
    const img = rows.filter((e) => e.image === 'walk-img').reverse();
    expect(img.map((e) => [e.actor, e.action])).toEqual([[`api session ${MAC} (127.0.0.1)`, 'image-publish'], [admin, 'image-remove']]);
    for (const e of rows) expect(Math.abs(e.time - Date.now())).toBeLessThan(120_000);

    // The same log through the API and through the CLI's filters.
    const viaApi = (await call('get', `/api/audit?host=${mac.replaceAll(':', '-')}&since=1h`, { token: ADMIN })).json as unknown as AuditEntry[];
    expect(viaApi.map((e) => e.action)).toEqual(about.map((e) => e.action).reverse());
    const filtered = JSON.parse((await execa(BIN, ['audit', '--state', stateFile, '--json', '--image', 'walk-img'])).stdout) as AuditEntry[];
    expect(filtered.map((e) => e.action)).toEqual(['image-remove', 'image-publish']);
    const table = (await execa(BIN, ['audit', '--state', stateFile, '--host', mac, '--limit', '2'])).stdout.split('\n');
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^TIME \(UTC\)\s+ACTOR\s+ACTION\s+HOST\s+IMAGE\s+DETAIL$/);
    expect(table[1]).toMatch(/api admin \(127\.0\.0\.1\)\s+host-remove\s+52:54:00:77:00:09/);
    const future = await execa(BIN, ['audit', '--state', stateFile, '--since', '2999-01-01']);
    expect(future.stdout).toBe('no audit entries match');
    const bad = await execa(BIN, ['audit', '--state', stateFile, '--since', 'last tuesday'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^netrestore: --since: last tuesday is neither a duration/);
  });

  it('records what admins change through the CLI: hosts add, task, cancel, rm', async () => {
    const mac = '52:54:00:77:00:0c';
    const nr = (...a: string[]) => execa(BIN, [...a, '--state', stateFile], { reject: false, all: true });
    for (const a of [['hosts', 'add', mac, '--name', 'cli01'], ['hosts', 'task', mac, 'capture', 'cli01-new'], ['hosts', 'cancel', mac], ['hosts', 'cancel', mac], ['hosts', 'rm', mac]]) {
      const r = await nr(...a);
      expect(r.exitCode, `${a.join(' ')}: ${r.all}`).toBe(0);
    }
    expect((await nr('hosts', 'rm', mac)).stderr).toMatch(/^netrestore: no host 52:54:00:77:00:0c/);
    const rows = JSON.parse((await nr('audit', '--json', '--host', mac)).stdout) as AuditEntry[];
    // The second cancel found nothing to cancel: it changed nothing, so it is not recorded.
    expect(rows.map((e) => [e.action, e.image]).reverse()).toEqual([['host-add', null], ['task-create', 'cli01-new'], ['task-cancel', 'cli01-new'], ['host-remove', null]]);
    for (const e of rows) expect(e.actor).toMatch(/^cli \S+$/);
  });
});
