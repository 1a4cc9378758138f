/**
 * The login GRUB cannot ask for: the agent's console sends it to
 * POST /console-login and gets a session token; a wrong one is refused,
 * slowed down and audited; before the login the agent can list nothing.
 * A real HTTP face with the agent's own client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/server.ts';
import { FileStore } from '../../src/images/store.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { BootFace } from '../../src/menus/boot-face.ts';
import { Renderer } from '../../src/menus/render.ts';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { openState } from '../../src/state/db.ts';
import { openStores, type State } from '../../src/state/stores.ts';

const MAC = '52:54:00:14:00:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-console-login-'));
const events: LogEvent[] = [];
let server: Server;
let base: string;
let state: State;
let now = Date.now(); // the sessions it opens are checked by the HTTP guard on the real clock

beforeAll(async () => {
  state = openStores(openState(join(dir, 'state.db')));
  const store = await new FileStore(join(dir, 'images')).init();
  const log = createLogger((e) => events.push(e), 'debug');
  const face = new BootFace({
    http: { apiBase: 'http://127.0.0.1:1', store }, hosts: state.hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, renderer: new Renderer(), log,
    settings: { title: 't', timeoutSeconds: 5, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' },
    checkLogin: async (u, p) => (u === 'admin' && p === 'right-password' ? { ok: true, user: 'admin', role: 'admin' } : { ok: false, knownUser: u === 'admin' }),
    now: () => now,
  });
  const built = buildApp({ store, log, isAdmin: () => false, state, boot: { base: 'http://127.0.0.1:1', bootDir: dir, face } });
  server = await new Promise<Server>((r) => {
    const s = built.app.listen(0, '127.0.0.1', () => r(s));
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('console login (the signed chain: GRUB boots the environment without a token)', () => {
  const login = { mac: MAC, mode: 'restore', image: '-', username: 'admin' };

  it('without a login the agent lists nothing; a wrong password is refused, then must wait; the right one opens the images API', async () => {
    const client = new ImagesClient({ server: base, token: undefined, retryForMs: 0 });
    await expect(client.catalog()).rejects.toMatchObject({ code: 'TOKEN_REFUSED' });
    await expect(client.consoleLogin({ ...login, password: 'wrong' })).rejects.toThrow(/the server refused the login: wrong user name or password/);
    await expect(client.consoleLogin({ ...login, password: 'right-password' })).rejects.toThrow(/too many wrong logins from this machine: wait 2 s/);
    now += 2_000;
    await client.consoleLogin({ ...login, password: 'right-password' });
    expect(await client.catalog()).toEqual([]);
    const audit = state.audit.list({}).map((a) => `${a.action} ${a.detail}`);
    expect(audit).toContain('login-failed mode restore (console), user admin; next try in 2 s');
    expect(audit).toContain('login mode restore (console), user admin');
    expect(events.some((e) => e.event === 'boot.login' && e.chain === 'grub')).toBe(true);
  });

  it('an incomplete request gets no token', async () => {
    const r = await fetch(`${base}/console-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'erase', username: 'admin', password: 'right-password' }) });
    expect(await r.json()).toEqual({ error: 'this login request is incomplete' });
  });
});
