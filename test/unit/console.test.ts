/** The console's pure parts: roles, login sessions and CSRF, time left, the serial log of a drill report, sharing of chunks. */
import { describe, expect, it } from 'vitest';
import { junitReport, type DrillResult } from '../../src/drill/report.ts';
import { serialLog } from '../../src/console/drills.ts';
import { sharing } from '../../src/console/image-pages.ts';
import { LiveProgress, secondsLeft } from '../../src/console/live.ts';
import { adminTokenLogin, cookieValue, Logins, sessionCookie } from '../../src/console/logins.ts';
import { ACTIONS, may } from '../../src/console/roles.ts';
import { duration } from '../../src/console/views.ts';
import type { Manifest } from '../../src/shared/format.ts';

describe('roles', () => {
  it('viewers read, operators act on hosts, tasks, verification and drills, admins also delete images', () => {
    expect(ACTIONS.filter((a) => may('viewer', a))).toEqual(['read']);
    expect(ACTIONS.filter((a) => may('operator', a))).toEqual(['read', 'host-edit', 'task-create', 'task-cancel', 'image-verify', 'drill-start']);
    expect(ACTIONS.filter((a) => may('admin', a))).toEqual([...ACTIONS]);
  });
});

describe('login sessions', () => {
  it('live while used, end after the idle time, and a closed one opens nothing', () => {
    let now = 1000;
    const l = new Logins({ idleMs: 100, now: () => now });
    const t = l.open({ name: 'a', role: 'admin' });
    now += 90;
    expect(l.use(t)?.name).toBe('a');
    now += 90; // 90 after the last use: still live
    expect(l.use(t)).toBeDefined();
    now += 60;
    expect(l.peek(t)).toBeDefined();
    now += 50; // peek did not restart the clock: 110 since the last use
    expect(l.peek(t)).toBeUndefined();
    expect(l.use(t)).toBeUndefined();
    const u = l.open({ name: 'b', role: 'viewer' });
    l.close(u);
    expect(l.use(u)).toBeUndefined();
    expect(l.use('made-up')).toBeUndefined();
    expect(l.use(undefined)).toBeUndefined();
  });

  it('checks the CSRF token of the session, not another\'s', () => {
    const l = new Logins();
    const a = l.use(l.open({ name: 'a', role: 'admin' }))!;
    const b = l.use(l.open({ name: 'b', role: 'admin' }))!;
    expect(Logins.csrfOk(a, a.csrf)).toBe(true);
    expect(Logins.csrfOk(a, b.csrf)).toBe(false);
    expect(Logins.csrfOk(a, '')).toBe(false);
    expect(Logins.csrfOk(a, undefined)).toBe(false);
    expect(Logins.csrfOk(a, [a.csrf])).toBe(false);
  });

  it('logs in "admin" with the admin token until there are users', async () => {
    const auth = adminTokenLogin((t) => t === 'tok');
    await expect(auth('admin', 'tok')).resolves.toEqual({ name: 'admin', role: 'admin' });
    await expect(auth('admin', 'nope')).resolves.toBeUndefined();
    await expect(auth('root', 'tok')).resolves.toBeUndefined();
  });

  it('reads and writes cookies', () => {
    expect(cookieValue('a=1; netrestore_console=x%3Dy; b=2', 'netrestore_console')).toBe('x=y');
    expect(cookieValue(undefined, 'a')).toBeUndefined();
    expect(sessionCookie('c', 'v', { secure: true })).toBe('c=v; Path=/; HttpOnly; SameSite=Strict; Secure');
    expect(sessionCookie('c', '', { secure: false, maxAgeS: 0 })).toBe('c=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
  });
});

describe('live progress', () => {
  it('keeps the latest report per task and tells the time left', () => {
    let now = 0;
    const live = new LiveProgress(() => now);
    let changes = 0;
    live.on('change', () => changes++);
    live.report({ task: 7, image: 'fs01', phase: 'restore', done: 10, total: 100, rate: 5 }, '10.0.0.5');
    live.report({ task: 7, image: 'fs01', phase: 'restore', done: 50, total: 100, rate: 10 }, '10.0.0.5');
    live.report({ image: 'adhoc', phase: 'restore', done: 1, total: 2, rate: 1 }, '10.0.0.6');
    expect(changes).toBe(3);
    expect(live.ofTask(7)).toMatchObject({ done: 50, rate: 10 });
    expect(secondsLeft(live.ofTask(7)!)).toBe(5);
    expect(live.untasked().map((r) => r.image)).toEqual(['adhoc']);
    now += 11 * 60_000;
    expect(live.ofTask(7)).toBeUndefined();
    expect(live.untasked()).toEqual([]);
    expect(secondsLeft({ done: 1, total: 2, rate: null })).toBeNull();
    expect(secondsLeft({ done: 2, total: 2, rate: 3 })).toBeNull();
    expect(duration(59)).toBe('59 s');
    expect(duration(125)).toBe('2 min 05 s');
    expect(duration(3725)).toBe('1 h 02 min');
    expect(duration(null)).toBe('–');
  });
});

describe('drill runs', () => {
  it('read the serial console back from the JUnit report', () => {
    const r: DrillResult = {
      ok: false, kind: 'restore', image: 'fs01', firmware: 'bios', mode: 'full', bytes: 1, milestones: {}, console: 'iPXE <1.21>\nagent: restore & verify\nKernel panic',
      phases: [{ name: 'network', seconds: 1, ok: true }, { name: 'restore', seconds: 2, ok: false, error: 'the agent reported: disk <gone>' }],
    };
    const xml = junitReport(r);
    expect(xml).toContain('<failure message="the agent reported: disk &lt;gone&gt;"');
    expect(serialLog(xml)).toBe('iPXE <1.21>\nagent: restore & verify\nKernel panic');
    expect(serialLog('not xml')).toBe('');
  });
});

describe('chunks shared between images', () => {
  const m = (name: string, chunks: (string | null)[]) => ({ name, chunks, minimal: undefined }) as unknown as Manifest;
  it('counts each image\'s distinct chunks, those another image uses too, and those only it holds', () => {
    const h = (c: string) => c.repeat(64);
    const s = sharing([m('a', [h('1'), h('2'), null, h('2')]), m('b', [h('2'), h('3')]), m('c', [])]);
    expect(s.get('a')).toEqual({ chunks: 2, shared: 1, only: [h('1')] });
    expect(s.get('b')).toEqual({ chunks: 2, shared: 1, only: [h('3')] });
    expect(s.get('c')).toEqual({ chunks: 0, shared: 0, only: [] });
  });
});
