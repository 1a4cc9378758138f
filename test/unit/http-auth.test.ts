/** The one token check: who a token stands for, and what each scope lets through. */
import { describe, expect, it } from 'vitest';
import { admits, identify, RouteTable, safeEqual, type Credentials, type Scope } from '../../src/http/auth.ts';

const session = { mac: '52:54:00:00:00:01', mode: 'restore', image: 'fs01', task: 3, expires: Date.now() + 60_000 };
const creds: Credentials = { isAdmin: (t) => t === 'admin-token', session: (t) => (t === 'session-token' ? session : undefined) };

describe('identify', () => {
  it('tells the admin, a session, nobody and a bad token apart', () => {
    expect(identify('admin-token', creds)).toEqual({ kind: 'admin' });
    expect(identify('session-token', creds)).toEqual({ kind: 'session', session });
    expect(identify(undefined, creds)).toEqual({ kind: 'anonymous' });
    expect(identify('guess', creds)).toBe('invalid');
  });
});

describe('admits', () => {
  it('public lets all through; session wants a session or the admin; admin wants the admin (403 for a session)', () => {
    const callers = [identify(undefined, creds), identify('guess', creds), identify('session-token', creds), identify('admin-token', creds)];
    const table: Record<Scope, unknown[]> = { public: ['pass', 'pass', 'pass', 'pass'], session: [401, 401, 'pass', 'pass'], admin: [401, 401, 403, 'pass'] };
    for (const [scope, want] of Object.entries(table)) expect(callers.map((c) => admits(scope as Scope, c)), scope).toEqual(want);
  });
});

describe('RouteTable', () => {
  it('will not take a route without a known scope, and lists routes with their prefix', () => {
    const t = new RouteTable();
    expect(() => t.get('/x', undefined as unknown as Scope, () => {})).toThrow(/unknown scope/);
    expect(() => t.get('/x', 'root' as Scope, () => {})).toThrow(/unknown scope/);
    const api = new RouteTable().get('/a/:id', 'session', () => {}).delete(/^\/b\/(.+)$/, 'admin', () => {});
    const all = new RouteTable().include('/api', api).list();
    expect(all).toEqual([
      { method: 'get', path: '/api/a/:id', scope: 'session' },
      { method: 'delete', path: /^\/api\/b\/(.+)$/, scope: 'admin' },
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
