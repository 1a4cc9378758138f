/**
 * The HTTP face under a hostile or broken client: malformed JSON, bodies over
 * the limit and bodies announced but never sent, JSON nested thousands deep,
 * wrong types, path tricks (.., %2e%2e, %00, bad % escapes, very long
 * paths), header floods, slowloris on headers and on the body, too many
 * uploads at once, and a seeded run of random requests. Every answer is a
 * 4xx (or 503 for the upload bound), never a 500; afterwards the server
 * answers a normal request and every image in the store still verifies.
 *
 * The real server (startHttpServer) with the real store and state, in this
 * process, with short deadlines so the slow-client cases take seconds.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { startHttpServer } from '../../src/http/server.ts';
import { FileStore } from '../../src/images/store.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { BootFace } from '../../src/menus/boot-face.ts';
import { Renderer } from '../../src/menus/render.ts';
import { openState } from '../../src/state/db.ts';
import { openStores, type State } from '../../src/state/stores.ts';
import { buildTestDisk } from '../helpers/disks.ts';

const ADMIN = 'http-fuzz-admin-token-0123';
const MAC = '52:54:00:62:00:01';
const HASH = 'a'.repeat(64);
const LIMITS = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 4000, maxUploads: 2, maxBodyBytes: 65 * 1024 * 1024 };
const dir = mkdtempSync(join(tmpdir(), 'nr-http-fuzz-'));
const images = join(dir, 'store');
const events: LogEvent[] = [];
let http: Awaited<ReturnType<typeof startHttpServer>>;
let state: State;
let session: string;
let taskId: number;
let B: string;
let port: number;

const call = async (method: string, path: string, o: { token?: string; body?: string | Buffer; type?: string } = {}) => {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = o.type ?? 'application/json';
  const res = await fetch(B + path, { method, headers, body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : new Uint8Array(o.body) });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status: res.status, text, code, headers: res.headers };
};

/** A raw HTTP exchange: what is written, and what comes back before the server closes (or `waitMs` passes). */
function raw(write: (s: net.Socket) => void, waitMs = 8000): Promise<{ text: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closedAfterMs: undefined });
    }, waitMs);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - t0 });
    });
    s.on('connect', () => write(s));
  });
}
const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

/** Write `line` a byte at a time, every `everyMs`, until the socket closes. */
function trickle(s: net.Socket, line: string, everyMs: number): void {
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed) return clearInterval(t);
    s.write(line[i++ % line.length]!);
  }, everyMs);
  s.on('close', () => clearInterval(t));
}

beforeAll(async () => {
  const disk = await buildTestDisk(dir, 'src', { sizeMiB: 80 });
  expect((await execa(BIN, ['publish', disk, '--name', 'fs01', '--images', images], { reject: false })).exitCode).toBe(0);
  state = openStores(openState(join(dir, 'state.db')));
  const store = await new FileStore(images).init();
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  const log = createLogger((e) => events.push(e), 'debug');
  const base = 'http://127.0.0.1:1';
  const face = new BootFace({
    http: { apiBase: base, store }, hosts: state.hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, renderer: new Renderer(), log,
    settings: { title: 't', timeoutSeconds: 5, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' },
    checkLogin: async (u, p) => (u === 'admin' && p === ADMIN ? { ok: true, user: 'admin', role: 'admin' } : { ok: false, knownUser: u === 'admin' }),
  });
  http = await startHttpServer({ listen: '127.0.0.1', port: 0, store, log, isAdmin: (t) => t === ADMIN, state, boot: { base, bootDir: join(dir, 'boot'), face }, limits: LIMITS });
  port = http.port;
  B = `http://127.0.0.1:${port}`;
  taskId = state.tasks.create('52:54:00:62:00:09', 'restore', 'fs01', null).id;
  session = state.sessions.open({ mac: MAC, mode: 'capture', image: 'new01', task: null });
}, 180_000);
afterAll(async () => {
  await http?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bad bodies answer 4xx', () => {
  it('malformed JSON: 400 BAD_JSON', async () => {
    for (const body of ['{"kind":', '{kind: restore}', '\u0000\u0001', '{"a":1}}', 'nul']) {
      const r = await call('POST', `/api/hosts/${MAC}/task`, { token: ADMIN, body });
      expect([r.status, r.code], body).toEqual([400, 'BAD_JSON']);
    }
  });
  it('wrong types and bad names: 400 with the reason', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', `/api/hosts/${MAC}/task`, { kind: 'restore', image: 42 }, 'BAD_REQUEST'],
      ['POST', `/api/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01 ${x}' }, 'BAD_REQUEST'],
      ['POST', `/api/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01', disk: '/dev/sda quiet init=/bin/sh' }, 'DISK_PATH'],
      ['POST', `/api/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01', disk: '/dev/../etc/passwd' }, 'DISK_PATH'],
      ['POST', `/api/hosts/${MAC}/task`, null, 'BAD_JSON'], // strict JSON: an object or an array
      ['POST', `/api/hosts/${MAC}/task`, [1, 2], 'BAD_REQUEST'],
      ['PUT', `/api/hosts/${MAC}`, { name: 'x\n:start\nshell' }, 'HOST_NAME'],
      ['PUT', `/api/hosts/${MAC}`, { name: ['a'] }, 'BAD_REQUEST'],
      ['POST', '/api/chunks/missing', { hashes: 'nope' }, 'BAD_REQUEST'],
      ['POST', '/api/images', { name: '../x' }, 'BAD_REQUEST'],
      ['POST', `/api/tasks/${taskId}`, { state: 7 }, 'BAD_REQUEST'],
    ];
    for (const [method, path, body, code] of cases) {
      const r = await call(method, path, { token: ADMIN, body: JSON.stringify(body) });
      expect([r.status, r.code], `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toEqual([400, code]);
    }
    expect(state.tasks.current(MAC)).toBeUndefined();
  });
  it('a body over the route\'s limit: 413', async () => {
    const r = await call('POST', '/api/progress', { token: ADMIN, body: JSON.stringify({ phase: 'x'.repeat(300_000) }) });
    expect([r.status, r.code]).toEqual([413, 'TOO_LARGE']);
  });
  it('JSON nested thousands deep: 400, no stack overflow', async () => {
    for (const n of [5_000, 200_000]) {
      // Where the schema would let it through (unknown keys of /api/progress are dropped), and where it would not.
      for (const [path, body] of [['/api/progress', `{"phase":"p","x":${'['.repeat(n)}${']'.repeat(n)}}`], ['/api/chunks/missing', `{"hashes":${'['.repeat(n)}${']'.repeat(n)}}`], ['/api/images', `{"x":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`]] as const) {
        const r = await call('POST', path, { token: ADMIN, body });
        if (path === '/api/progress' && n > 50_000) expect(r.status).toBe(413); // over that route's 100 kB first
        else expect([r.status, r.code, r.text], `${path} ${n} deep`).toEqual([400, 'BAD_JSON', expect.stringContaining('nested deeper than 32 levels')]);
      }
    }
    // A manifest-like body of ordinary depth still goes through to the schema.
    expect((await call('POST', '/api/progress', { token: ADMIN, body: JSON.stringify({ phase: 'p', x: { a: [[{ b: 1 }]] } }) })).status).toBe(204);
  });
  it('a huge Content-Length, body never sent: 413 at once, and the connection is closed', async () => {
    const r = await raw((s) => s.write(`PUT /api/chunks/${HASH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Length: 10000000000\r\n\r\n`));
    expect(statusOf(r.text), r.text).toBe(413);
    expect(r.closedAfterMs).toBeLessThan(1000);
    const anon = await raw((s) => s.write('POST /api/progress HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n'));
    expect(statusOf(anon.text)).toBe(413);
  });
});

describe('path tricks answer 4xx and reach nothing', () => {
  it('.., %2e%2e, %00, bad % escapes, in the API and the boot files', async () => {
    const paths = [
      '/api/images/..', '/api/images/%2e%2e', '/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/api/images/fs01%00', '/api/images/%00', '/api/images/fs01%2f..%2f..',
      '/api/images/%E0%A4%A', '/api/images/%', '/api/images/%zz', '/api/chunks/%2e%2e', '/api/chunks/' + '%'.repeat(64), '/api/chunks/..%2f..%2fstate.db',
      '/boot/..%2fsecret.txt', '/boot/%2e%2e/secret.txt', '/boot/%252e%252e/secret.txt', '/boot/%00', '/boot/vmlinuz%00.txt', '/boot/%E0%A4%A', '/boot/%',
      '/auth.ipxe?mac=%zz&mode=%', '/boot.ipxe?mac=%E0%A4%A', '/api/audit?since=%zz', '/api/hosts/%zz', '/api/tasks/%2e%2e',
    ];
    for (const path of paths) {
      for (const method of ['GET', 'DELETE']) {
        const r = await raw((s) => s.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`));
        const status = statusOf(r.text);
        expect(status, `${method} ${path}: ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(200);
        expect(status, `${method} ${path}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
        expect(r.text, path).not.toContain('secret');
      }
    }
    expect((await call('GET', '/api/images/fs01', { token: ADMIN })).status).toBe(200);
  });
  it('a very long path, and a flood of headers: 431, the connection closed', async () => {
    const long = await raw((s) => s.write(`GET /api/images/${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
    expect(statusOf(long.text)).toBe(431);
    const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    const flood = await raw((s) => s.write(`GET /api/images HTTP/1.1\r\nHost: x\r\n${many}\r\n`));
    expect(statusOf(flood.text)).toBe(431);
    expect(flood.closedAfterMs).toBeDefined();
  });
});

describe('slow clients are cut', () => {
  it('headers trickled a byte at a time (slowloris): cut at the header deadline', async () => {
    const r = await raw((s) => {
      s.write('GET /api/images HTTP/1.1\r\nHost: x\r\n');
      trickle(s, 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n', 100);
    });
    expect(r.closedAfterMs, 'still open after 8 s').toBeDefined();
    expect(r.closedAfterMs!).toBeLessThan(LIMITS.headersTimeoutMs + 2000);
  });
  it('a body trickled a byte at a time: cut at the request deadline, nothing stored', async () => {
    const r = await raw((s) => {
      s.write(`PUT /api/chunks/${HASH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${session}\r\nContent-Length: 100000\r\n\r\n`);
      trickle(s, 'x', 100);
    });
    expect(r.closedAfterMs, 'still open after 8 s').toBeDefined();
    expect(r.closedAfterMs!).toBeLessThan(LIMITS.requestTimeoutMs + 2000);
    expect((await call('POST', '/api/chunks/missing', { token: ADMIN, body: JSON.stringify({ hashes: [HASH] }) })).text).toContain(HASH);
  });
  it('uploads beyond the bound answer 503 with Retry-After; once they end, uploads go through again', async () => {
    const slow = Array.from({ length: LIMITS.maxUploads }, () =>
      raw((s) => {
        s.write(`PUT /api/chunks/${HASH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${session}\r\nContent-Length: 100000\r\n\r\n`);
        trickle(s, 'x', 100);
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const busy = await call('PUT', `/api/chunks/${HASH}`, { token: session, body: Buffer.from('x'), type: 'application/octet-stream' });
    expect([busy.status, busy.code]).toEqual([503, 'BUSY']);
    expect(busy.headers.get('retry-after')).toBe('2');
    await Promise.all(slow);
    const after = await call('PUT', `/api/chunks/${HASH}`, { token: session, body: Buffer.from('not zstd'), type: 'application/octet-stream' });
    expect(after.status, after.text).toBe(400); // taken, read, and refused for what it is
  }, 20_000);
});

describe('names are checked where they enter', () => {
  it('a capture login with a name that is not an image name gets a message, no kernel and no session', async () => {
    for (const image of ['x y', 'x${net0/ip}', '../etc', 'a;reboot', '-x']) {
      const r = await call('GET', `/auth.ipxe?mac=${MAC}&mode=capture&image=${encodeURIComponent(image)}&username=admin&password=${ADMIN}`);
      expect(r.text, image).toContain('Not an image name');
      expect(r.text).not.toMatch(/^kernel /m);
      expect(r.text).not.toContain('${net0/ip}');
    }
    const ok = await call('GET', `/auth.ipxe?mac=${MAC}&mode=capture&image=new01&username=admin&password=${ADMIN}`);
    expect(ok.text).toMatch(/^kernel .* netrestore\.mode=capture netrestore\.image=new01 /m);
  });
  it('hosts task and hosts add on the command line: bad image, disk or host name is a usage error with its code', async () => {
    const st = join(dir, 'cli.db');
    const nr = (...a: string[]) => execa(BIN, [...a, '--state', st], { reject: false });
    for (const [args, said] of [
      [['hosts', 'task', MAC, 'restore', 'fs01 quiet'], /image name "fs01 quiet" is not allowed/],
      [['hosts', 'task', MAC, 'capture', '${x}'], /image name "\$\{x\}" is not allowed/],
      [['hosts', 'task', MAC, 'restore', 'fs01', '--disk', '/dev/sda init=/bin/sh'], /disk "\/dev\/sda init=\/bin\/sh" is not a device name/],
      [['hosts', 'task', MAC, 'restore', 'fs01', '--disk', '/etc/shadow'], /disk "\/etc\/shadow" is not a device name/],
      [['hosts', 'add', MAC, '--name', 'x\n:start'], /host name "x\\n:start" is not allowed/],
    ] as const) {
      const r = await nr(...args);
      expect(r.exitCode, r.stderr).toBe(2); // a usage error (IMAGE_NAME, DISK_PATH, HOST_NAME)
      expect(r.stderr).toMatch(said);
    }
    expect((await nr('hosts', 'list')).stdout).not.toMatch(/quiet|shadow|start/);
    expect((await nr('hosts', 'task', MAC, 'restore', 'fs01', '--disk', '/dev/disk/by-id/nvme-eui.0025388b91b2e0a1')).exitCode).toBe(0);
  });
});

describe('random requests', () => {
  it('a seeded run of a thousand: never a 500', async () => {
    let seed = 0x13;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(a: readonly T[]): T => a[rnd(a.length)]!;
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
    const bases = ['/api/images', '/api/images/fs01', '/api/chunks/missing', `/api/chunks/${HASH}`, '/api/progress', '/api/hosts', `/api/hosts/${MAC}`, `/api/hosts/${MAC}/task`, '/api/tasks/1', '/api/history', '/api/audit', '/boot.ipxe', '/auth.ipxe', '/boot/vmlinuz', '/'];
    const junk = ['', '/..', '%', '%00', '%2e%2e', '?limit=-1', '?limit=1e999', '?since=x', '?mac=zz', '/' + 'x'.repeat(300), '?a[b][c]=1', '#x', ';x', '%ff%fe', '\u00e9'];
    const bodies = ['', '{', '[]', 'null', '"x"', '{"kind":"restore","image":"fs01","disk":"/dev/sda"}', '{"hashes":["' + HASH + '"]}', '{"state":"done"}', '{"name":"n","notes":"' + 'n'.repeat(5000) + '"}', '\u0000'.repeat(100), JSON.stringify({ a: { b: { c: [1, 2, { d: null }] } } })];
    const tokens = [undefined, ADMIN, session, 'wrong'];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const method = pick(methods);
      const path = encodeURI(pick(bases) + pick(junk)).replace(/%25/g, '%');
      const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies);
      const token = pick(tokens);
      const type = pick(['application/json', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-16']);
      const r = await raw((s) => s.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}${body !== undefined ? `Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body ?? ''}`));
      const status = statusOf(r.text);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(status, `${method} ${path} ${token ?? '-'} ${body?.slice(0, 80)}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
    }
    // Not all refused: the run reached the handlers too.
    expect([...statuses.keys()].some((s) => s >= 200 && s < 300), JSON.stringify([...statuses])).toBe(true);
  }, 120_000);
});

describe('afterwards', () => {
  it('the server answers a normal request, logged no 500, and every image still verifies', async () => {
    const list = await call('GET', '/api/images', { token: ADMIN });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text).map((m: { name: string }) => m.name)).toEqual(['fs01']);
    expect(events.filter((e) => e.event === 'http.error')).toEqual([]);
    const verify = await execa(BIN, ['images', 'verify', 'fs01', '--images', images, '--json'], { reject: false });
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);
});
