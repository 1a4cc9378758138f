/**
 * The web console over plain HTTP: every form's bad input (empty, too long,
 * unknown image, bad MAC) answers the page with a clear message and changes
 * nothing; a POST without the session's CSRF token is refused; roles decide
 * what a person may do; the session cookie's attributes and idle timeout.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ConsoleClient, publishRandom, startConsoleService, type ConsoleService } from '../helpers/console-service.ts';

const MAC = '52:54:00:c0:00:01';
let s: ConsoleService;
let admin: ConsoleClient;

beforeAll(async () => {
  s = await startConsoleService({
    // Stands in for the users store: the roles decide, whoever checks the password.
    authenticate: async (name, password) => {
      if (name === 'admin' && password === ADMIN) return { name, role: 'admin' };
      if (name === 'vera' && password === 'viewer-pw') return { name, role: 'viewer' };
      if (name === 'otto' && password === 'operator-pw') return { name, role: 'operator' };
      return undefined;
    },
  });
  await publishRandom(s, 'fs01', 3);
  await publishRandom(s, 'dc01', 2, ['--role', 'domain-controller']);
  s.state.hosts.upsert({ mac: MAC, name: 'known' });
  admin = new ConsoleClient(s.base);
  await admin.login();
}, 120_000);
afterAll(async () => {
  await s?.close();
});

/** What a refused form must leave as it was. */
const snapshot = async () => ({
  hosts: JSON.stringify(s.state.hosts.list()),
  task: JSON.stringify(s.state.tasks.latest(MAC) ?? null),
  images: (await s.store.listManifests()).map((m) => m.name).join(','),
  drills: JSON.stringify((await import('node:fs')).existsSync(`${s.dir}/drills`) ? (await import('node:fs')).readdirSync(`${s.dir}/drills`) : []),
});

const decode = (html: string) => html.replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#x3D;/g, '=');

async function refused(path: string, form: Record<string, string>, status: number, sentence: RegExp, from = '/hosts') {
  await admin.get(from);
  const before = await snapshot();
  const r = await admin.post(path, form);
  expect(r.status, `${path} ${JSON.stringify(form)}: ${r.text.slice(0, 200)}`).toBe(status);
  expect(decode(r.text)).toMatch(sentence);
  expect(r.text).toMatch(/class="error" role="alert"/);
  expect(await snapshot()).toEqual(before);
}

describe('bad input on every form: a sentence on the page, nothing changed', () => {
  it('add a host', async () => {
    await refused('/hosts', { mac: '', name: 'x' }, 400, /MAC address is empty: type the host's MAC address/);
    await refused('/hosts', { mac: 'zz:zz:00:11:22:33', name: 'x' }, 400, /MAC address "zz:zz:00:11:22:33" is not a MAC address: type six pairs of hex digits/);
    await refused('/hosts', { mac: '52:54:00:c0:00:02', name: 'n'.repeat(201) }, 400, /Name is too long: at most 200 characters/);
    await refused('/hosts', { mac: '52:54:00:c0:00:02', name: 'ok', notes: 'x'.repeat(4001) }, 400, /Notes is too long: at most 4000 characters/);
    await refused('/hosts', { mac: MAC, name: 'again' }, 409, /Host 52:54:00:c0:00:01 is known already/);
    // What was typed comes back, escaped.
    const r = await admin.post('/hosts', { mac: '<b>bad', name: '<script>alert(1)</script>' });
    expect(r.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(r.text).not.toContain('<script>alert(1)');
  });

  it('edit a host', async () => {
    await refused(`/hosts/${MAC}`, { name: 'n'.repeat(201) }, 400, /Name is too long/, `/hosts/${MAC}`);
    await refused(`/hosts/${MAC}`, { name: 'ok', notes: 'x'.repeat(4001) }, 400, /Notes is too long/, `/hosts/${MAC}`);
    expect((await admin.post('/hosts/zz', { name: 'x' })).status).toBe(404);
    expect((await admin.post('/hosts/52:54:00:99:99:99', { name: 'x' })).status).toBe(404);
  });

  it('make a task', async () => {
    const at = `/hosts/${MAC}`;
    await refused(`${at}/task`, { kind: 'restore', image: '' }, 400, /Image is empty: choose an image/, at);
    await refused(`${at}/task`, { kind: 'restore' }, 400, /Image is missing: choose an image/, at);
    await refused(`${at}/task`, { kind: 'restore', image: 'nope' }, 400, /There is no image named nope: choose one from the list/, at);
    await refused(`${at}/task`, { kind: 'restore', image: 'i'.repeat(101) }, 400, /Image name is too long: at most 100 characters/, at);
    await refused(`${at}/task`, { kind: 'restore', image: '../etc' }, 400, /Image name may hold letters, digits/, at);
    await refused(`${at}/task`, { kind: 'wipe', image: 'fs01' }, 400, /Choose restore or capture/, at);
    await refused(`${at}/task`, { kind: 'restore', image: 'fs01', disk: 'sda; rm -rf' }, 400, /Disk is a device path like \/dev\/sda/, at);
    await refused(`${at}/task`, { kind: 'capture', image: 'fs01' }, 409, /An image named fs01 exists already: give the capture a new name/, at);
    // A domain controller: a second page first, then the name typed back.
    await admin.get(at);
    const before = await snapshot();
    const first = await admin.post(`${at}/task`, { kind: 'restore', image: 'dc01' });
    expect(first.status).toBe(200);
    expect(decode(first.text)).toMatch(/USN rollback/);
    expect(await snapshot()).toEqual(before);
    await refused(`${at}/task`, { kind: 'restore', image: 'dc01', confirm: 'dc0' }, 400, /Type the image name dc01 exactly to confirm/, at);
    const ok = await admin.post(`${at}/task`, { kind: 'restore', image: 'dc01', confirm: 'dc01' });
    expect(ok.status).toBe(303);
    expect(s.state.tasks.current(MAC)).toMatchObject({ kind: 'restore', image: 'dc01', state: 'pending' });
    expect(s.state.audit.list({ mac: MAC })[0]).toMatchObject({ action: 'task-create', image: 'dc01', actor: expect.stringMatching(/^console admin \(/) });
  });

  it('delete an image', async () => {
    await refused('/images/fs01/delete', { confirm: '' }, 400, /Type the image name fs01 exactly to delete it. Nothing was deleted./, '/images/fs01/delete');
    await refused('/images/fs01/delete', { confirm: 'fs0' }, 400, /Type the image name fs01 exactly/, '/images/fs01/delete');
    await refused('/images/fs01/delete', { confirm: 'x'.repeat(201) }, 400, /Type the image name fs01 exactly/, '/images/fs01/delete');
    expect((await admin.post('/images/nope/delete', { confirm: 'nope' })).status).toBe(404);
  });

  it('start a drill', async () => {
    await refused('/drills', { image: '' }, 400, /Image is empty: choose an image/, '/drills');
    await refused('/drills', { image: 'nope' }, 400, /There is no image named nope/, '/drills');
    await refused('/drills', { image: 'x'.repeat(101) }, 400, /Image name is too long/, '/drills');
    await refused('/drills', { image: 'fs01', firmware: 'coreboot' }, 400, /Firmware is bios or uefi/, '/drills');
  });

  it('filter the history', async () => {
    const r = await admin.get('/history?host=not-a-mac');
    expect(r.status).toBe(400);
    expect(decode(r.text)).toMatch(/MAC address "not-a-mac" is not a MAC address/);
    expect((await admin.get('/history?image=' + 'x'.repeat(101))).status).toBe(400);
    expect((await admin.get('/history?result=maybe')).status).toBe(400);
    expect((await admin.get(`/history?host=${MAC}&image=dc01&result=failed`)).status).toBe(200);
  });

  it('log in', async () => {
    const c = new ConsoleClient(s.base);
    await c.get('/login');
    let r = await c.post('/login', { name: '', password: '' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/Type your user name and password/);
    await c.get('/login');
    r = await c.post('/login', { name: 'admin', password: 'wrong' });
    expect(r.status).toBe(401);
    expect(r.text).toMatch(/Wrong user name or password/);
    expect(s.state.audit.list()[0]).toMatchObject({ action: 'login-failed' });
    await new Promise((r) => setTimeout(r, 2100)); // the login throttle holds this address back 2 s after one wrong password
    await c.get('/login');
    r = await c.post('/login', { name: 'admin', password: ADMIN }, { csrf: null });
    expect(r.status).toBe(403);
    expect(c.cookies.has('netrestore_console')).toBe(false);
  });
});

describe('export', () => {
  it('downloads the image as the tar of `images export`, and the audit log says who', async () => {
    const res = await fetch(`${s.base}/images/fs01/export`, { headers: { cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="fs01.tar"');
    const tar = Buffer.from(await res.arrayBuffer());
    // A ustar archive whose first entry is the manifest, as `netrestore images import` wants it.
    expect(tar.subarray(0, 13).toString()).toBe('manifest.json');
    expect(tar.subarray(257, 262).toString()).toBe('ustar');
    expect(tar.length).toBeGreaterThan(3 * 1024 * 1024);
    expect(s.state.audit.list({ image: 'fs01' })[0]).toMatchObject({ action: 'image-export', actor: expect.stringMatching(/^console admin/) });
    expect((await admin.get('/images/nope/export')).status).toBe(404);
  });
});

describe('CSRF', () => {
  it('refuses every form without the session\'s token, or with another token, and changes nothing', async () => {
    await admin.get(`/hosts/${MAC}`);
    const forms: [string, Record<string, string>][] = [
      ['/hosts', { mac: '52:54:00:c0:00:09', name: 'csrf' }],
      [`/hosts/${MAC}`, { name: 'renamed' }],
      [`/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01' }],
      [`/hosts/${MAC}/cancel`, {}],
      ['/images/fs01/verify', {}],
      ['/images/fs01/delete', { confirm: 'fs01' }],
      ['/drills', { image: 'fs01' }],
      ['/logout', {}],
    ];
    for (const csrf of [null, '', 'forged-token']) {
      for (const [path, form] of forms) {
        const before = await snapshot();
        const audit = s.state.audit.list().length;
        const r = await admin.post(path, form, { csrf });
        expect(r.status, `${path} with ${String(csrf)}`).toBe(403);
        expect(r.text).toMatch(/security token is missing or stale/);
        expect(await snapshot()).toEqual(before);
        expect(s.state.audit.list().length).toBe(audit);
      }
    }
    // Still logged in: the refused logout did not log out.
    expect((await admin.get('/')).status).toBe(200);
  });
});

describe('roles', () => {
  it('a viewer reads but changes nothing; an operator makes tasks but deletes no image', async () => {
    const vera = new ConsoleClient(s.base);
    await vera.login('vera', 'viewer-pw');
    const page = await vera.get(`/hosts/${MAC}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toMatch(/Make the restore task/);
    const before = await snapshot();
    for (const [path, form] of [[`/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01' }], ['/hosts', { mac: '52:54:00:c0:00:0a' }], [`/hosts/${MAC}/cancel`, {}], ['/images/fs01/delete', { confirm: 'fs01' }], ['/drills', { image: 'fs01' }]] as const) {
      const r = await vera.post(path, form);
      expect(r.status, path).toBe(403);
      expect(r.text).toMatch(/Your role \(viewer\) may not do this/);
    }
    expect(await snapshot()).toEqual(before);

    const otto = new ConsoleClient(s.base);
    await otto.login('otto', 'operator-pw');
    await otto.get(`/hosts/${MAC}`);
    expect((await otto.post(`/hosts/${MAC}/task`, { kind: 'restore', image: 'fs01' })).status).toBe(303);
    expect(s.state.tasks.current(MAC)).toMatchObject({ image: 'fs01' });
    expect(s.state.audit.list({ mac: MAC })[0]!.actor).toMatch(/^console otto \(/);
    expect((await otto.get('/images/fs01/delete')).status).toBe(403);
    await otto.get('/images/fs01');
    expect((await otto.post('/images/fs01/delete', { confirm: 'fs01' })).status).toBe(403);
    expect(await s.store.readManifest('fs01')).toBeDefined();
  });
});

describe('the session cookie', () => {
  it('is HttpOnly and SameSite=Strict, not Secure over plain HTTP; ends at logout', async () => {
    const c = new ConsoleClient(s.base);
    await c.get('/login');
    const r = await c.post('/login', { name: 'admin', password: ADMIN });
    const cookie = r.setCookie.find((x) => x.startsWith('netrestore_console='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    const token = c.cookies.get('netrestore_console')!;
    await c.get('/');
    expect((await c.post('/logout', {})).location).toBe('/login');
    // The old cookie, kept by someone, opens nothing.
    c.cookies.set('netrestore_console', token);
    const after = await c.get('/hosts');
    expect(after.status).toBe(303);
    expect(after.location).toBe('/login');
    expect(s.state.audit.list().map((e) => e.action)).toContain('logout');
  });

  it('is Secure when the request came over TLS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-console-tls-'));
    await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1']);
    const tls = await startConsoleService({ tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') } });
    // The test's own self-signed certificate: not checked.
    const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<{ status: number; cookies: string[]; text: string }>((resolve, reject) => {
        const req = https.request(`${tls.base}${path}`, { method, headers, rejectUnauthorized: false }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, cookies: res.headers['set-cookie'] ?? [], text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const get = await call('GET', '/login');
      expect(get.cookies[0]).toMatch(/; Secure/);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(get.text)![1]!;
      const r = await call('POST', '/login', { cookie: get.cookies[0]!.split(';')[0]!, 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ _csrf: csrf, name: 'admin', password: ADMIN }).toString());
      expect(r.status).toBe(303);
      expect(r.cookies.find((x) => x.startsWith('netrestore_console='))).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      await tls.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends after the idle time', async () => {
    const short = await startConsoleService({ idleMs: 400 });
    try {
      const c = new ConsoleClient(short.base);
      await c.login();
      expect((await c.get('/hosts')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 700));
      const r = await c.get('/hosts');
      expect(r.status).toBe(303);
      expect(r.location).toBe('/login');
    } finally {
      await short.close();
    }
  });
});
