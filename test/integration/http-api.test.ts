/**
 * The HTTP face's one route table, walked: every route with every kind of
 * caller (no credential, a wrong token, restore, capture and shell session
 * tokens, each for its own and for another image, a viewer, an operator and
 * an admin account over HTTP Basic, the admin token) answers as the
 * permission table below says; paths no route declares answer 404 whatever
 * the token; bad input answers 400 with { error, code }; and what admins
 * change through the API is in `netrestore audit`.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { buildApp } from '../../src/http/server.ts';
import type { RouteInfo } from '../../src/http/auth.ts';
import { PERMISSIONS } from '../../src/auth/access.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { FileStore } from '../../src/images/store.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { BootFace } from '../../src/menus/boot-face.ts';
import { Renderer } from '../../src/menus/render.ts';
import { buildManifest, sha256, type Manifest } from '../../src/shared/format.ts';
import { compress } from '../../src/shared/zstd.ts';
import { openState } from '../../src/state/db.ts';
import { openStores, type State } from '../../src/state/stores.ts';
import type { AuditEntry } from '../../src/state/audit.ts';

const ADMIN = 'http-api-admin-token';
const MAC = '52:54:00:77:00:01';
/** The host the admin routes are walked on: never the one whose task the sessions hold. */
const OTHER_MAC = '52:54:00:77:00:0f';
const dir = mkdtempSync(join(tmpdir(), 'nr-http-api-'));
const stateFile = join(dir, 'state.db');
const events: LogEvent[] = [];
let server: Server;
let port: number;
let routes: RouteInfo[];
let declared: { method: string; path: string }[];
let state: State;
let store: FileStore;
let session: string;
let taskId: number;
/** Chunks of the two walk images. */
const own = { raw: randomBytes(4096) };
const other = { raw: randomBytes(4096) };
const ownHash = sha256(own.raw);
const otherHash = sha256(other.raw);

/** A one-chunk manifest. */
function manifest(name: string, hash: string, stored: number): Manifest {
  return buildManifest({
    name, description: 'walk', role: 'generic', created: new Date(), source: { size: 4096, sectorSize: 512, format: 'raw', path: undefined },
    partitionTable: { type: 'none', partitions: [] }, chunkSize: 4096, chunks: [hash], totals: { raw: 4096, zero: 0, stored, shared: 0, chunks: 1, zeroChunks: 0, free: 0 }, sha256: hash, partitions: [], minTargetBytes: 4096,
  });
}

beforeAll(async () => {
  const db = openState(stateFile);
  state = openStores(db);
  store = await new FileStore(join(dir, 'images')).init();
  for (const [name, c] of [['walk-fs01', own], ['walk-other', other]] as const) {
    const z = await compress(c.raw);
    await store.writeChunk(sha256(c.raw), z);
    await store.writeManifest(manifest(name, sha256(c.raw), z.length));
  }
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  const log = createLogger((e) => events.push(e), 'debug');
  const face = new BootFace({
    http: { apiBase: 'http://127.0.0.1:1', store }, hosts: state.hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, renderer: new Renderer(), log,
    settings: { title: 't', timeoutSeconds: 5, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' },
    checkLogin: async () => ({ ok: false, knownUser: false }),
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
  port = (server.address() as { port: number }).port;
  state.hosts.upsert({ mac: MAC, name: 'walk' });
  taskId = state.tasks.create(MAC, 'restore', 'walk-fs01', null).id;
  session = state.sessions.open({ mac: MAC, mode: 'restore', image: 'walk-fs01', task: taskId });
  for (const [name, role] of [['vera', 'viewer'], ['otto', 'operator'], ['ada', 'admin']] as const) state.users.add(name, role, await hashPassword(`${name}-password`));
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

interface CallOptions {
  token?: string | undefined;
  /** HTTP Basic: [user, password]. */
  basic?: [string, string] | undefined;
  /** The local address to call from (127.0.0.0/8 is all ours): sessions bind to one, the throttle keys on it. */
  from?: string;
  json?: unknown;
  raw?: string | Buffer;
  type?: string;
}

const call = (method: string, path: string, o: CallOptions = {}) =>
  new Promise<{ status: number; json: { error?: string; code?: string } | undefined; text: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.basic) headers.authorization = `Basic ${Buffer.from(o.basic.join(':')).toString('base64')}`;
    let body: Buffer | undefined;
    if (o.json !== undefined) (headers['content-type'] = 'application/json'), (body = Buffer.from(JSON.stringify(o.json)));
    if (o.raw !== undefined) (headers['content-type'] = o.type ?? 'application/json'), (body = Buffer.from(o.raw));
    if (body) headers['content-length'] = String(body.length);
    const req = http.request({ host: '127.0.0.1', port, method: method.toUpperCase(), path, headers, localAddress: o.from ?? '127.0.0.1' }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: { error?: string; code?: string } | undefined;
        try {
          json = JSON.parse(text) as typeof json;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });

const REGEX_SAMPLES: Record<string, string> = { '^\\/boot\\/(.+)$': '/boot/vmlinuz' };

/**
 * A concrete path for a route: parameters filled with values that exist where it matters:
 * the walk image and one of its chunks to read, the session's own task; a name and a host
 * that do not exist to delete, so that a call that passes changes nothing the walk needs.
 */
function sample(r: RouteInfo): string {
  if (r.path instanceof RegExp) {
    const s = REGEX_SAMPLES[r.path.source];
    if (!s) throw new Error(`no sample path for the route pattern ${r.path.source}: add one to REGEX_SAMPLES`);
    return s;
  }
  const name = r.method === 'delete' ? 'walk-nothing' : 'walk-fs01';
  return r.path.replace(/:(\w+)/g, (_m, p: string) => ({ mac: OTHER_MAC, id: String(taskId), hash: ownHash, name })[p] ?? `unknown-param-${p}`);
}

/** The body each route is walked with: none, except a publish of a manifest whose chunk is not uploaded (409 when it passes: nothing is published). */
const SAMPLE_BODY: Record<string, unknown> = { 'post /api/images': manifest('walk-new', 'e'.repeat(64), 10) };

const CALLERS = ['none', 'wrong', 'restoreOwn', 'restoreOther', 'captureOwn', 'captureOther', 'shell', 'viewer', 'operator', 'adminUser', 'admin'] as const;
type Who = (typeof CALLERS)[number];
type Want = 'pass' | 401 | 403;
const P = 'pass';

/**
 * The permission table, written out: for each route, what each caller gets, in the order of CALLERS.
 * restoreOwn holds a restore session of walk-fs01 (with its task), restoreOther one of walk-other;
 * captureOwn may publish walk-new, captureOther walk-else.
 */
const TABLE: Record<string, Want[]> = {
  //                                none wrong  rOwn  rOther cOwn  cOther shell viewer oper adminU admin
  'get /boot.ipxe':                [P,   P,    P,    P,     P,    P,     P,    P,     P,   P,     P],
  'get /auth.ipxe':                [P,   P,    P,    P,     P,    P,     P,    P,     P,   P,     P],
  'post /console-login':           [P,   P,    P,    P,     P,    P,     P,    P,     P,   P,     P],
  'get ^\\/boot\\/(.+)$':          [P,   P,    P,    P,     P,    P,     P,    P,     P,   P,     P],
  'post /api/tasks/:id':           [401, 401,  P,    403,   403,  403,   403,  403,   P,   P,     P],
  'get /api/hosts':                [401, 401,  403,  403,   403,  403,   403,  P,     P,   P,     P],
  'put /api/hosts/:mac':           [401, 401,  403,  403,   403,  403,   403,  403,   P,   P,     P],
  'delete /api/hosts/:mac':        [401, 401,  403,  403,   403,  403,   403,  403,   403, P,     P],
  'post /api/hosts/:mac/task':     [401, 401,  403,  403,   403,  403,   403,  403,   P,   P,     P],
  'delete /api/hosts/:mac/task':   [401, 401,  403,  403,   403,  403,   403,  403,   P,   P,     P],
  'get /api/history':              [401, 401,  403,  403,   403,  403,   403,  P,     P,   P,     P],
  'get /api/audit':                [401, 401,  403,  403,   403,  403,   403,  P,     P,   P,     P],
  'get /api/images':               [401, 401,  P,    P,     P,    P,     P,    P,     P,   P,     P],
  'get /api/images/:name':         [401, 401,  P,    403,   403,  403,   P,    P,     P,   P,     P],
  'get /api/chunks/:hash':         [401, 401,  P,    403,   403,  403,   P,    403,   P,   P,     P],
  'post /api/chunks/missing':      [401, 401,  403,  403,   P,    P,     403,  403,   P,   P,     P],
  'put /api/chunks/:hash':         [401, 401,  403,  403,   P,    P,     403,  403,   P,   P,     P],
  'post /api/images':              [401, 401,  403,  403,   P,    403,   403,  403,   P,   P,     P],
  'post /api/progress':            [401, 401,  P,    P,     P,    P,     P,    403,   P,   P,     P],
  'delete /api/images/:name':      [401, 401,  403,  403,   403,  403,   403,  403,   403, P,     P],
};

const routeKey = (r: RouteInfo) => `${r.method} ${typeof r.path === 'string' ? r.path : r.path.source}`;

describe('the route table', () => {
  it('declares every route express serves, each with a known permission, and the walk has a row for each', () => {
    expect(routes.length).toBeGreaterThan(10);
    const table = new Set(routes.map((r) => `${r.method} ${String(r.path)}`));
    for (const d of declared) expect(table, `${d.method} ${d.path} is served but not in the route table`).toContain(`${d.method} ${d.path}`);
    expect(declared.length).toBe(routes.length);
    for (const r of routes) expect(PERMISSIONS, `${r.method} ${String(r.path)}`).toContain(r.permission);
    for (const r of routes) if (typeof r.path === 'string' && r.path.startsWith('/api/')) expect(r.permission, `${r.method} ${r.path}`).not.toBe('public');
    expect(Object.keys(TABLE).sort()).toEqual(routes.map(routeKey).sort());
  });

  it('answers every route as the table says, for every kind of caller', async () => {
    const open = (mode: string, image: string | null, task: number | null = null) => state.sessions.open({ mac: MAC, mode, image, task, issuedTo: '127.0.0.1' });
    const otherTask = state.tasks.create('52:54:00:77:00:02', 'restore', 'walk-other', null).id;
    const creds: Record<Who, () => CallOptions> = {
      none: () => ({}),
      // A new address each time: a wrong token holds its address back (that is tested below).
      wrong: (() => {
        let n = 0;
        return () => ({ token: 'not-a-token', from: `127.0.1.${++n}` });
      })(),
      restoreOwn: () => ({ token: session }),
      restoreOther: (() => {
        const t = open('restore', 'walk-other', otherTask);
        return () => ({ token: t });
      })(),
      captureOwn: (() => {
        const t = open('capture', 'walk-new');
        return () => ({ token: t });
      })(),
      captureOther: (() => {
        const t = open('capture', 'walk-else');
        return () => ({ token: t });
      })(),
      shell: (() => {
        const t = open('shell', null);
        return () => ({ token: t });
      })(),
      viewer: () => ({ basic: ['vera', 'vera-password'] }),
      operator: () => ({ basic: ['otto', 'otto-password'] }),
      adminUser: () => ({ basic: ['ada', 'ada-password'] }),
      admin: () => ({ token: ADMIN }),
    };
    // Read-only and harmless calls first; the ones that remove things last.
    const order = [...routes].sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
    const seen: string[] = [];
    for (const r of order) {
      const row = TABLE[routeKey(r)]!;
      for (const [i, who] of CALLERS.entries()) {
        const path = sample(r);
        const got = await call(r.method, path, { ...creds[who](), json: SAMPLE_BODY[`${r.method} ${String(r.path)}`] });
        const label = `${r.method.toUpperCase()} ${path} (${r.permission}) as ${who}: ${got.status} ${got.text.slice(0, 160)}`;
        const w = row[i]!;
        if (w === 'pass') {
          expect([401, 403, 429], label).not.toContain(got.status);
          // A public route needs nothing more: it answers; a guarded one may still refuse the (empty) input.
          expect(got.status, label).toBeLessThan(r.permission === 'public' ? 400 : 500);
        } else {
          expect(got.status, label).toBe(w);
          expect(got.json?.code, label).toBe(w === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN');
          if (w === 401) expect(got.headers['www-authenticate'], label).toMatch(/Bearer.*Basic/);
        }
        seen.push(label);
      }
    }
    expect(seen.length).toBe(routes.length * CALLERS.length);
    // Nothing was published or removed on the way.
    expect((await store.listManifests()).map((m) => m.name).sort()).toEqual(['walk-fs01', 'walk-other']);
  });

  it('shows each caller the catalogue it may read: a restore session its one image, a capture session none', async () => {
    const names = async (o: CallOptions) => ((await call('get', '/api/images', o)).json as unknown as { name: string }[]).map((m) => m.name).sort();
    expect(await names({ token: session })).toEqual(['walk-fs01']);
    expect(await names({ token: state.sessions.open({ mac: MAC, mode: 'capture', image: 'x-new', task: null }) })).toEqual([]);
    expect(await names({ basic: ['vera', 'vera-password'] })).toEqual(['walk-fs01', 'walk-other']);
    expect(await names({ token: ADMIN })).toEqual(['walk-fs01', 'walk-other']);
  });

  it('refuses a restore session the chunks of another image, and a session token for another task', async () => {
    expect((await call('get', `/api/chunks/${ownHash}`, { token: session })).status).toBe(200);
    const r = await call('get', `/api/chunks/${otherHash}`, { token: session });
    expect(r.status).toBe(403);
    expect(r.json?.error).toMatch(/not part of image walk-fs01/);
    expect((await call('get', `/api/chunks/${'0'.repeat(64)}`, { token: session })).status).toBe(403); // not even whether it exists
    const otherSession = state.sessions.open({ mac: '52:54:00:77:00:03', mode: 'restore', image: 'walk-fs01', task: state.tasks.create('52:54:00:77:00:03', 'restore', 'walk-fs01', null).id });
    // A task that is not pending or started has no session any more.
    expect((await call('get', '/api/images/walk-fs01', { token: state.sessions.open({ mac: MAC, mode: 'restore', image: 'walk-fs01', task: taskId + 1000 }) })).json?.error).toMatch(/no longer valid: its task \d+ has ended/);
    const t = await call('post', `/api/tasks/${taskId}`, { token: otherSession, json: { state: 'started' } });
    expect(t.status).toBe(403);
    expect(t.json?.code).toBe('FORBIDDEN');
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
    for (const [method, path, token] of [['put', `/api/hosts/${MAC}`, ADMIN], ['post', `/api/hosts/${MAC}/task`, ADMIN], ['post', '/api/chunks/missing', ADMIN], ['post', `/api/tasks/${taskId}`, session], ['post', '/api/images', ADMIN], ['post', '/api/progress', session]] as const) {
      const r = await call(method, path, { token, raw: '{"name": ' });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(400);
      expect(r.json?.code).toBe('BAD_JSON');
      expect(typeof r.json?.error).toBe('string');
      expect((await call(method, path, { raw: '{"name": ' })).status).toBe(401);
    }
  });

  it('answers a body, a parameter or a query that does not fit its schema with 400 BAD_REQUEST naming the field', async () => {
    const cases: [string, string, CallOptions, RegExp][] = [
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
      ['post', '/api/chunks/missing', { token: ADMIN, json: { hashes: ['zz'] } }, /body\.hashes\.0/],
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
    const capture = state.sessions.open({ mac: MAC, mode: 'capture', image: 'walk-img', task: null });
    const raw = randomBytes(4096);
    const hash = sha256(raw);
    const z = await compress(raw);
    expect((await call('put', `/api/chunks/${hash}`, { token: capture, raw: z, type: 'application/octet-stream' })).status).toBe(201);
    const m = buildManifest({
      name: 'walk-img', description: 'audit walk', role: 'generic', created: new Date(), source: { size: 4096, sectorSize: 512, format: 'raw', path: undefined },
      partitionTable: { type: 'none', partitions: [] }, chunkSize: 4096, chunks: [hash], totals: { raw: 4096, zero: 0, stored: z.length, shared: 0, chunks: 1, zeroChunks: 0, free: 0 }, sha256: hash, partitions: [], minTargetBytes: 4096,
    });
    expect((await call('post', '/api/images', { token: capture, json: m })).status).toBe(201);
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
