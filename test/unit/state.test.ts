/** The state database's stores, each on a fresh in-memory database. */
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { AuditLog, parseSince } from '../../src/state/audit.ts';
import { openState } from '../../src/state/db.ts';
import { HistoryLog } from '../../src/state/history.ts';
import { HostStore } from '../../src/state/hosts.ts';
import { SessionStore } from '../../src/state/sessions.ts';
import { TaskStore } from '../../src/state/tasks.ts';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

describe('openState', () => {
  it('migrates a new database to the last version, and again is a no-op', () => {
    const db = openState(':memory:');
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    const cols = (db.prepare('PRAGMA table_info(audit)').all() as { name: string }[]).map((c) => c.name);
    expect(cols).toEqual(['id', 'time', 'actor', 'action', 'detail', 'mac', 'image']);
    expect(version).toBeGreaterThanOrEqual(5);
    db.close();
  });

  it('prepares each statement once: building a store prepares, using it does not', () => {
    const db = openState(':memory:');
    let prepared = 0;
    const real = db.prepare.bind(db);
    const counting = new Proxy(db, {
      get: (t, k) => {
        if (k === 'prepare') return (sql: string) => (prepared++, real(sql));
        const v = Reflect.get(t, k, t) as unknown;
        return typeof v === 'function' ? v.bind(t) : v;
      },
    }) as DatabaseSync;
    const stores = { tasks: new TaskStore(counting), sessions: new SessionStore(counting), history: new HistoryLog(counting), audit: new AuditLog(counting), hosts: new HostStore(counting) };
    const after = prepared;
    expect(after).toBeGreaterThan(0);
    const t = stores.tasks.create(A, 'restore', 'fs01', null, 1);
    stores.tasks.get(t.id), stores.tasks.current(A), stores.tasks.latest(A), stores.tasks.setState(t.id, 'started'), stores.tasks.cancel(A);
    stores.sessions.get(stores.sessions.open({ mac: A, mode: 'shell', image: null, task: null }, { idleMs: 1000, maxMs: 1000 }));
    stores.history.record({ mac: A, kind: 'restore', image: 'fs01', started: 1, ended: 2, bytes: 3, result: 'done', error: null });
    stores.history.list();
    stores.audit.record({ actor: 'x', action: 'y' });
    stores.audit.list({ mac: A });
    stores.hosts.upsert({ mac: A }), stores.hosts.list(), stores.hosts.get(A), stores.hosts.remove(A);
    expect(prepared).toBe(after);
    db.close();
  });
});

describe('TaskStore', () => {
  it('a new task replaces the pending one; current and latest; cancel', () => {
    const t = new TaskStore(openState(':memory:'));
    const first = t.create('52-54-00-00-00-0A', 'restore', 'fs01', '/dev/sda', 100);
    expect(first).toMatchObject({ mac: A, kind: 'restore', image: 'fs01', disk: '/dev/sda', state: 'pending', error: null, created: 100, updated: 100 });
    const second = t.create(A, 'capture', 'fs02', null, 200);
    expect(t.get(first.id)).toMatchObject({ state: 'cancelled', updated: 200 });
    expect(t.current(A)?.id).toBe(second.id);
    expect(t.current(B)).toBeUndefined();
    t.setState(second.id, 'started', null, 300);
    expect(t.current(A)).toMatchObject({ id: second.id, state: 'started' });
    t.setState(second.id, 'failed', 'disk too small', 400);
    expect(t.current(A)).toBeUndefined();
    expect(t.latest(A)).toMatchObject({ id: second.id, state: 'failed', error: 'disk too small', updated: 400 });
    expect(t.cancel(A)).toBe(0);
    t.create(A, 'restore', 'fs01', null, 500);
    expect(t.cancel(A, 600)).toBe(1);
    expect(t.latest(A)).toMatchObject({ state: 'cancelled', updated: 600 });
    expect(t.get(9999)).toBeUndefined();
    expect(() => t.create('nope', 'restore', 'fs01', null)).toThrow(/not a MAC/);
  });

  it('refuses a kind or state the table does not know', () => {
    const t = new TaskStore(openState(':memory:'));
    expect(() => t.create(A, 'wipe' as 'restore', 'fs01', null)).toThrow(/CHECK/);
    expect(t.current(A)).toBeUndefined(); // the failed create left nothing behind, not even a cancellation
  });
});

describe('SessionStore', () => {
  const limits = { idleMs: 1000, maxMs: 5000 };
  it('gives a token once, finds its session until it expires, and stores only its hash', () => {
    const db = openState(':memory:');
    const s = new SessionStore(db);
    const token = s.open({ mac: A, mode: 'shell', image: null, task: null, user: 'alice', issuedTo: '10.0.0.5' }, limits, 10_000);
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(s.get(token, 10_500)).toMatchObject({ mac: A, mode: 'shell', image: null, task: null, user: 'alice', issuedTo: '10.0.0.5', boundTo: null, published: null, expires: 11_000, ends: 15_000 });
    expect(s.get(token, 11_000)).toBeUndefined();
    expect(s.lookup(token, 11_000)).toEqual({ live: false, reason: 'it has expired' });
    expect(s.get('made-up', 10_500)).toBeUndefined();
    expect(s.lookup('made-up', 10_500)).toBeUndefined();
    const stored = db.prepare('SELECT token_sha256 FROM sessions').all() as { token_sha256: string }[];
    expect(stored.map((r) => r.token_sha256).join()).not.toContain(token);
  });

  it('is pushed on by use, never past its hard deadline, and binds to the address of its first use', () => {
    const s = new SessionStore(openState(':memory:'));
    const token = s.open({ mac: A, mode: 'shell', image: null, task: null }, { idleMs: 120_000, maxMs: 300_000 }, 0);
    expect(s.use(s.get(token, 10)!, '10.0.0.9', { idleMs: 120_000, maxMs: 300_000 }, 10)).toBe(true);
    expect(s.get(token, 10)).toMatchObject({ boundTo: '10.0.0.9', expires: 120_000 }); // less than a minute later: no write
    expect(s.use(s.get(token, 90_000)!, '10.0.0.9', { idleMs: 120_000, maxMs: 300_000 }, 90_000)).toBe(true);
    expect(s.get(token, 200_000)).toMatchObject({ expires: 210_000 });
    expect(s.use(s.get(token, 200_000)!, '10.0.0.66', { idleMs: 120_000, maxMs: 300_000 }, 200_000)).toBe(false);
    for (let t = 200_000; t < 300_000; t += 61_000) s.use(s.get(token, t)!, '10.0.0.9', { idleMs: 120_000, maxMs: 300_000 }, t);
    expect(s.get(token, 299_999)?.expires).toBe(300_000);
    expect(s.get(token, 300_000)).toBeUndefined();
  });

  it('binds once: of two first uses from different addresses, the second is refused', () => {
    const s = new SessionStore(openState(':memory:'));
    const token = s.open({ mac: A, mode: 'shell', image: null, task: null }, limits, 0);
    const seenBefore = s.get(token, 1)!;
    expect(s.use(s.get(token, 1)!, '10.0.0.1', limits, 1)).toBe(true);
    expect(s.use(seenBefore, '10.0.0.2', limits, 1)).toBe(false);
    expect(s.use(seenBefore, '10.0.0.1', limits, 1)).toBe(true);
  });

  it('ends with its task: done, failed, cancelled, or replaced while pending', () => {
    const db = openState(':memory:');
    const s = new SessionStore(db);
    const tasks = new TaskStore(db);
    for (const end of ['done', 'failed', 'cancel', 'replace'] as const) {
      const t = tasks.create(A, 'restore', 'fs01', null);
      const token = s.open({ mac: A, mode: 'restore', image: 'fs01', task: t.id }, limits);
      expect(s.get(token)?.task).toBe(t.id);
      if (end !== 'replace') tasks.setState(t.id, 'started'); // a new task replaces a pending one only
      expect(s.get(token)?.task).toBe(t.id);
      if (end === 'done' || end === 'failed') tasks.setState(t.id, end);
      else if (end === 'cancel') tasks.cancel(A);
      else tasks.create(A, 'restore', 'fs02', null);
      expect(s.lookup(token), end).toEqual({ live: false, reason: `its task ${t.id} has ended` });
      tasks.cancel(A);
    }
  });

  it('lets a capture session claim one publish, and take it back when the publish failed', () => {
    const s = new SessionStore(openState(':memory:'));
    const token = s.open({ mac: A, mode: 'capture', image: null, task: null }, limits, 0);
    expect(s.claimPublish(s.get(token, 1)!, 'web01')).toBe(true);
    expect(s.claimPublish(s.get(token, 1)!, 'web02')).toBe(false);
    expect(s.get(token, 1)?.published).toBe('web01');
    s.releasePublish(s.get(token, 1)!, 'web02'); // not its claim: nothing
    expect(s.get(token, 1)?.published).toBe('web01');
    s.releasePublish(s.get(token, 1)!, 'web01');
    expect(s.claimPublish(s.get(token, 1)!, 'web02')).toBe(true);
  });

  it('drops sessions past their hard deadline when it opens a new one', () => {
    const db = openState(':memory:');
    const s = new SessionStore(db);
    s.open({ mac: A, mode: 'shell', image: null, task: null }, { idleMs: 10, maxMs: 10 }, 0);
    s.open({ mac: B, mode: 'shell', image: null, task: null }, { idleMs: 10, maxMs: 10 }, 100);
    expect((db.prepare('SELECT mac FROM sessions').all() as { mac: string }[]).map((r) => r.mac)).toEqual([B]);
  });
});

describe('HistoryLog', () => {
  it('keeps what ended, newest first, up to a limit', () => {
    const h = new HistoryLog(openState(':memory:'));
    expect(h.list()).toEqual([]);
    h.record({ mac: A, kind: 'restore', image: 'fs01', started: 1, ended: 2, bytes: 1000, result: 'done', error: null });
    h.record({ mac: B, kind: 'capture', image: 'web', started: 3, ended: 4, bytes: null, result: 'failed', error: 'no disk' });
    expect(h.list()).toEqual([
      { id: 2, mac: B, kind: 'capture', image: 'web', started: 3, ended: 4, bytes: null, result: 'failed', error: 'no disk' },
      { id: 1, mac: A, kind: 'restore', image: 'fs01', started: 1, ended: 2, bytes: 1000, result: 'done', error: null },
    ]);
    expect(h.list(1).map((e) => e.id)).toEqual([2]);
  });
});

describe('AuditLog', () => {
  const log = () => {
    const a = new AuditLog(openState(':memory:'));
    a.record({ actor: 'cli root', action: 'host-add', mac: A, detail: '{}' }, 1000);
    a.record({ actor: 'api admin (127.0.0.1)', action: 'task-create', mac: A, image: 'fs01', detail: 'task 1 restore' }, 2000);
    a.record({ actor: 'api admin (127.0.0.1)', action: 'image-remove', image: 'old' }, 3000);
    a.record({ actor: `host ${B}`, action: 'login', mac: B, image: 'fs01' }, 4000);
    return a;
  };

  it('lists newest first, with every field', () => {
    const rows = log().list();
    expect(rows.map((r) => r.action)).toEqual(['login', 'image-remove', 'task-create', 'host-add']);
    expect(rows[2]).toEqual({ id: 2, time: 2000, actor: 'api admin (127.0.0.1)', action: 'task-create', mac: A, image: 'fs01', detail: 'task 1 restore' });
    expect(rows[1]).toMatchObject({ mac: null, detail: null });
  });

  it('filters by host, image, time and count, together', () => {
    const a = log();
    expect(a.list({ mac: A }).map((r) => r.action)).toEqual(['task-create', 'host-add']);
    expect(a.list({ image: 'fs01' }).map((r) => r.action)).toEqual(['login', 'task-create']);
    expect(a.list({ mac: A, image: 'fs01' }).map((r) => r.action)).toEqual(['task-create']);
    expect(a.list({ since: 3000 }).map((r) => r.action)).toEqual(['login', 'image-remove']);
    expect(a.list({ limit: 1 }).map((r) => r.action)).toEqual(['login']);
    expect(a.list({ mac: '52:54:00:00:00:99' })).toEqual([]);
  });
});

describe('parseSince', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  it('reads durations back from now and dates', () => {
    expect(parseSince('30m', now)).toBe(now - 30 * 60_000);
    expect(parseSince('12h', now)).toBe(now - 12 * 3_600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('2026-12-01T08:00:00Z', now)).toBe(Date.parse('2026-12-01T08:00:00Z'));
    expect(parseSince('2026-12-01', now)).toBe(Date.parse('2026-12-01'));
  });
  it('refuses what is neither', () => {
    for (const v of ['', 'yesterday', '7', '-3d', '1y', '2026-13-45', 'Dec 1 2026']) expect(parseSince(v, now), v).toBeUndefined();
  });
});

describe('HostStore.remove', () => {
  it('forgets a host, also its pending last-seen write', () => {
    const h = new HostStore(openState(':memory:'));
    h.upsert({ mac: A, name: 'fs01' });
    h.seen(A, 5);
    expect(h.remove(A)).toBe(true);
    h.flushSeen();
    expect(h.get(A)).toBeUndefined();
    expect(h.remove(A)).toBe(false);
  });
});

describe("HostStore: a host's own chain on UEFI x64 PXE", () => {
  it('is kept while other fields change, and "default" gives the server\'s rule back', () => {
    const h = new HostStore(openState(':memory:'));
    h.upsert({ mac: A, name: 'fs01' });
    expect(h.get(A)!.uefiBoot).toBeNull();
    h.upsert({ mac: A, uefiBoot: 'ipxe' });
    h.upsert({ mac: A, notes: 'rack 4' });
    expect(h.get(A)).toMatchObject({ name: 'fs01', notes: 'rack 4', uefiBoot: 'ipxe' });
    h.upsert({ mac: A, uefiBoot: 'shim' });
    expect(h.get(A)!.uefiBoot).toBe('shim');
    h.upsert({ mac: A, uefiBoot: 'default' });
    expect(h.get(A)!.uefiBoot).toBeNull();
    h.upsert({ mac: '52:54:00:00:00:99', uefiBoot: 'default' });
    expect(h.get('52:54:00:00:00:99')!.uefiBoot).toBeNull();
  });
});
