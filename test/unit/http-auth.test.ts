/** The one access decision, the roles, passwords and the Authorization header: pure parts, without a server. */
import { describe, expect, it } from 'vitest';
import { decide, type Caller } from '../../src/auth/access.ts';
import { authenticateUser } from '../../src/auth/login.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../../src/auth/password.ts';
import { ACTIONS, may, ROLES } from '../../src/auth/roles.ts';
import { actorOf, parseAuthorization, RouteTable, safeEqual, type Permission } from '../../src/http/auth.ts';
import type { Session } from '../../src/state/sessions.ts';

const session = (o: Partial<Session>): Caller => ({
  kind: 'session',
  session: { id: 'x', mac: '52:54:00:00:00:01', mode: 'restore', image: 'fs01', task: null, user: null, issuedTo: '10.0.0.5', boundTo: null, published: null, expires: Infinity, ends: Infinity, ...o },
});
const at = { address: '10.0.0.5' };

describe('roles', () => {
  it('viewers read, operators also run and make tasks, admins also delete, manage users and change settings', () => {
    const granted = (r: (typeof ROLES)[number]) => ACTIONS.filter((a) => may(r, a));
    expect(granted('viewer')).toEqual(['images.list', 'images.read', 'hosts.read', 'history.read', 'audit.read']);
    expect(granted('operator')).toEqual(expect.arrayContaining(['chunks.read', 'chunks.write', 'images.publish', 'tasks.write', 'hosts.write', 'restore.start', 'capture.start', 'shell.start']));
    expect(ACTIONS.filter((a) => !may('operator', a))).toEqual(['images.delete', 'hosts.delete', 'users.manage', 'settings.change']);
    expect(granted('admin')).toEqual([...ACTIONS]);
    for (const a of granted('viewer')) expect(may('operator', a), a).toBe(true);
    expect(may('nobody' as 'admin', 'images.list')).toBe(false);
  });
});

describe('decide', () => {
  it('lets anyone through a public route, and nobody without a credential through another (401)', () => {
    for (const c of [{ kind: 'anonymous' } as Caller, 'invalid' as const]) {
      expect(decide(c, 'public', at)).toEqual({ pass: true });
      for (const a of ACTIONS) expect(decide(c, a, at)).toMatchObject({ pass: false, status: 401 });
    }
  });

  it('lets the admin token do everything, and a user what the role may', () => {
    for (const a of ACTIONS) {
      expect(decide({ kind: 'admin' }, a, at).pass).toBe(true);
      for (const role of ROLES) expect(decide({ kind: 'user', name: 'u', role }, a, at), `${role} ${a}`).toEqual(may(role, a) ? { pass: true } : expect.objectContaining({ status: 403 }));
    }
  });

  it('lets a restore session read its one image, only its chunks, report its progress and its own task', () => {
    const r = session({ mode: 'restore', image: 'fs01', task: 7 });
    expect(decide(r, 'images.read', { ...at, image: 'fs01' }).pass).toBe(true);
    expect(decide(r, 'images.read', { ...at, image: 'dc01' })).toMatchObject({ status: 403, reason: expect.stringMatching(/fs01 only/) });
    expect(decide(r, 'chunks.read', { ...at, chunkInImage: true }).pass).toBe(true);
    expect(decide(r, 'chunks.read', { ...at, chunkInImage: false })).toMatchObject({ status: 403 });
    expect(decide(r, 'chunks.read', at)).toMatchObject({ status: 403 });
    expect(decide(r, 'tasks.report', { ...at, task: 7 }).pass).toBe(true);
    expect(decide(r, 'tasks.report', { ...at, task: 8 })).toMatchObject({ status: 403 });
    expect(decide(r, 'progress.report', at).pass).toBe(true);
    expect(decide(r, 'images.list', at).pass).toBe(true);
    for (const a of ['chunks.write', 'images.publish', 'images.delete', 'hosts.read', 'tasks.write', 'audit.read', 'history.read', 'restore.start'] as const) expect(decide(r, a, at), a).toMatchObject({ status: 403 });
  });

  it('lets a capture session upload and publish the name it was given, once, and read nothing', () => {
    const c = session({ mode: 'capture', image: 'web01-new', task: null });
    expect(decide(c, 'chunks.write', at).pass).toBe(true);
    expect(decide(c, 'images.publish', at).pass).toBe(true); // the name is not known before the body
    expect(decide(c, 'images.publish', { ...at, image: 'web01-new' }).pass).toBe(true);
    expect(decide(c, 'images.publish', { ...at, image: 'dc01' })).toMatchObject({ status: 403, reason: expect.stringMatching(/web01-new only/) });
    for (const a of ['images.read', 'chunks.read', 'images.delete', 'tasks.report', 'hosts.write'] as const) expect(decide(c, a, { ...at, image: 'web01-new', task: 1 }), a).toMatchObject({ status: 403 });
    const spent = session({ mode: 'capture', image: 'web01-new', published: 'web01-new' });
    expect(decide(spent, 'images.publish', { ...at, image: 'web01-new' })).toMatchObject({ status: 403, reason: expect.stringMatching(/already/) });
    expect(decide(spent, 'chunks.write', at)).toMatchObject({ status: 403 });
    // From the menu the name is typed on the console: the first one it publishes.
    const menu = session({ mode: 'capture', image: null });
    expect(decide(menu, 'images.publish', { ...at, image: 'anything-new' }).pass).toBe(true);
  });

  it('lets a shell session read any image (a restore by hand) and nothing more', () => {
    const s = session({ mode: 'shell', image: null });
    for (const a of ['images.list', 'images.read', 'chunks.read', 'progress.report'] as const) expect(decide(s, a, { ...at, image: 'dc01' }).pass, a).toBe(true);
    for (const a of ['chunks.write', 'images.publish', 'tasks.report', 'hosts.read'] as const) expect(decide(s, a, at), a).toMatchObject({ status: 403 });
  });

  it('refuses a bound session from any other address, whatever it asks', () => {
    const r = session({ mode: 'restore', image: 'fs01', boundTo: '10.0.0.9' });
    expect(decide(r, 'images.read', { address: '10.0.0.9', image: 'fs01' }).pass).toBe(true);
    expect(decide(r, 'images.read', { address: '10.0.0.5', image: 'fs01' })).toMatchObject({ status: 403, reason: expect.stringMatching(/10\.0\.0\.9, not to 10\.0\.0\.5/) });
    expect(decide(r, 'progress.report', { address: '10.0.0.66' })).toMatchObject({ status: 403 });
  });

  it('admits unknown session modes to nothing', () => {
    for (const a of ACTIONS) expect(decide(session({ mode: 'menu' }), a, { ...at, image: 'fs01', chunkInImage: true }), a).toMatchObject({ status: 403 });
  });
});

describe('passwords', () => {
  it('hash with scrypt, a salt and the parameters, and verify only the right password', async () => {
    const h = await hashPassword('correct horse');
    expect(h).toMatch(/^scrypt\$32768\$8\$3\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(h).not.toContain('correct');
    expect(await hashPassword('correct horse')).not.toBe(h); // salted
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct horsE', h)).toBe(false);
    expect(await verifyPassword('', h)).toBe(false);
    expect(await verifyPassword('correct horse', 'plain')).toBe(false);
    expect(await verifyPassword('correct horse', h.replace('$32768$', '$1073741824$'))).toBe(false); // refuses to burn a GiB
  });

  it('asks for 8 characters or more, without control characters', () => {
    expect(passwordProblem('short')).toMatch(/at least 8/);
    expect(passwordProblem('long enough')).toBeUndefined();
    expect(passwordProblem('tab\there-x')).toMatch(/control/);
  });

  it('authenticates a user without saying whether the name or the password was wrong', async () => {
    const users = new Map([['otto', { name: 'otto', role: 'operator' as const, password: await hashPassword('otto-password') }]]);
    const lookup = { credentials: (n: string) => users.get(n) };
    expect(await authenticateUser(lookup, 'otto', 'otto-password')).toEqual({ name: 'otto', role: 'operator' });
    expect(await authenticateUser(lookup, 'otto', 'wrong')).toBeUndefined();
    expect(await authenticateUser(lookup, 'nobody', 'otto-password')).toBeUndefined();
    expect(await authenticateUser(lookup, '', '')).toBeUndefined();
  });
});

describe('parseAuthorization', () => {
  it('reads Bearer and Basic, and calls anything else malformed', () => {
    expect(parseAuthorization(undefined)).toBeUndefined();
    expect(parseAuthorization('Bearer abc')).toEqual({ scheme: 'bearer', token: 'abc' });
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(parseAuthorization(basic('alice:pa:ss word'))).toEqual({ scheme: 'basic', name: 'alice', password: 'pa:ss word' });
    for (const h of ['Bearer', 'Token abc', basic('no-colon'), basic(':pw'), 'Basic !!!']) expect(parseAuthorization(h), h).toBe('malformed');
  });
});

describe('RouteTable', () => {
  it('will not take a route without a known permission, and lists routes with their prefix', () => {
    const t = new RouteTable();
    expect(() => t.get('/x', undefined as unknown as Permission, () => {})).toThrow(/unknown permission/);
    expect(() => t.get('/x', 'session' as Permission, () => {})).toThrow(/unknown permission/);
    const api = new RouteTable().get('/a/:id', 'images.read', () => {}).delete(/^\/b\/(.+)$/, 'images.delete', () => {});
    expect(new RouteTable().include('/api', api).list()).toEqual([
      { method: 'get', path: '/api/a/:id', permission: 'images.read' },
      { method: 'delete', path: /^\/api\/b\/(.+)$/, permission: 'images.delete' },
    ]);
  });
});

describe('safeEqual', () => {
  it('compares secrets of any lengths', () => {
    expect(safeEqual('secret', 'secret')).toBe(true);
    expect(safeEqual('secret', 'secreT')).toBe(false);
    expect(safeEqual('secret', 'secret-and-more')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('the guard with a caller set by an earlier middleware', () => {
  it('takes it as it is: a console session plugs in without changing the guard', async () => {
    const express = (await import('express')).default;
    const { openState } = await import('../../src/state/db.ts');
    const { openStores } = await import('../../src/state/stores.ts');
    const { apiCredentials } = await import('../../src/http/credentials.ts');
    const { MemoryStore } = await import('../helpers/memory-store.ts');
    const { createLogger } = await import('../../src/log.ts');
    const state = openStores(openState(':memory:'));
    const app = express();
    // What a console's cookie middleware would do.
    app.use((req, res, next) => {
      const role = req.get('x-test-console-role');
      if (role) res.locals.caller = { kind: 'user', name: 'carol', role, via: 'console' };
      next();
    });
    const table = new RouteTable()
      .get('/read', 'hosts.read', (_req, res) => void res.json({ ok: true }))
      .delete('/gone', 'hosts.delete', (req, res) => void res.json({ actor: actorOf(req, res) }));
    table.mount(app, apiCredentials({ state, store: new MemoryStore(), isAdmin: () => false }), createLogger(() => {}));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const call = (method: string, path: string, role?: string) => fetch(base + path, { method, headers: role ? { 'x-test-console-role': role } : {} });
    try {
      expect((await call('GET', '/read')).status).toBe(401);
      expect((await call('GET', '/read', 'viewer')).status).toBe(200);
      expect((await call('DELETE', '/gone', 'operator')).status).toBe(403);
      const r = await call('DELETE', '/gone', 'admin');
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ actor: 'console user carol (127.0.0.1)' });
    } finally {
      server.close();
    }
  });
});
