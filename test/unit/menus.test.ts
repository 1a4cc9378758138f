import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { warningsFor } from '../../src/shared/format.ts';
import { kernelCmdline, menuContext, planBoot, type ImageSummary } from '../../src/menus/boot-plan.ts';
import { parseMac } from '../../src/state/hosts.ts';
import { clientAddress, LoginGuard } from '../../src/auth/login-guard.ts';
import { menuLogin } from '../../src/menus/menu-login.ts';
import { UserStore } from '../../src/state/users.ts';
import { openState } from '../../src/state/db.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { ipxeText, Renderer } from '../../src/menus/render.ts';
import { httpTransport, tftpTransport } from '../../src/menus/boot-face.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import type { Task } from '../../src/state/tasks.ts';
import { golden } from '../helpers/golden.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/menus');
const MAC = '52:54:00:12:34:56';
const task = (state: Task['state']): Task => ({ id: 7, mac: MAC, kind: 'restore', image: 'fs01', disk: null, state, error: null, created: 0, updated: 0 });
const host = (ignore = false) => ({ mac: MAC, name: 'fs01', notes: null, ignore, lastSeen: null, menuTimeout: null });
const images: ImageSummary[] = [
  { name: 'fs01-2026-11-24', description: 'file server after KB5041 ${evil} | rm', created: '2026-11-24T10:00:00.000Z', role: 'file-server', warnings: [], source: { size: 40 * 1024 ** 3 } },
  { name: 'dc01-2026-11-20', description: 'domain controller', created: '2026-11-20T10:00:00.000Z', role: 'domain-controller', warnings: warningsFor('domain-controller'), source: { size: 60 * 1024 ** 3 } },
];
const settings = { title: 'netrestore at HQ', timeoutSeconds: 10, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' };

describe('boot decision', () => {
  it('asks a request without a MAC to come back with one', () => {
    expect(planBoot(undefined, undefined, undefined, true)).toEqual({ kind: 'chain' });
  });
  it('shows the menu to an unknown host and to a known one', () => {
    expect(planBoot(MAC, undefined, undefined, true)).toEqual({ kind: 'menu' });
    expect(planBoot(MAC, host(), undefined, true)).toEqual({ kind: 'menu' });
  });
  it('sends a host with a pending task straight into it', () => {
    expect(planBoot(MAC, host(), task('pending'), true)).toEqual({ kind: 'task', task: task('pending') });
  });
  it('never runs a started task again (no restore loop): the menu says what happened', () => {
    const p = planBoot(MAC, host(), task('started'), true);
    expect(p.kind).toBe('menu');
    expect((p as { notice: string }).notice).toMatch(/Task 7 \(restore fs01\) started but did not finish/);
  });
  it('lets an ignored host boot its own disk, task or not', () => {
    expect(planBoot(MAC, host(true), task('pending'), true)).toEqual({ kind: 'ignored' });
  });
  it('leaves a pending task waiting when HTTP is off: the menu says why', () => {
    const p = planBoot(MAC, host(), task('pending'), false);
    expect(p.kind).toBe('menu');
    expect((p as { notice: string }).notice).toMatch(/Task 7 \(restore fs01\) waits for HTTP on the server \(--http-port\), which is off/);
    expect(planBoot(MAC, host(true), task('pending'), false)).toEqual({ kind: 'ignored' });
    expect(planBoot(MAC, host(), undefined, false)).toEqual({ kind: 'menu' });
  });
  it('reads MACs in the spellings iPXE and admins use', () => {
    expect(parseMac('52:54:00:12:34:56')).toBe(MAC);
    expect(parseMac('52-54-00-12-34-56')).toBe(MAC);
    expect(parseMac('5254.0012.3456')).toBe(MAC);
    expect(parseMac('52:54:00:12:34')).toBeUndefined();
    expect(parseMac('../../etc')).toBeUndefined();
  });
});

describe('rendered scripts (golden)', () => {
  const r = new Renderer();
  const http = httpTransport('http://10.0.0.1:8080');
  it('menu: images, DC warning with a second confirmation, login, local disk by default', () => {
    const text = r.render('menu', { ...menuContext({ mac: MAC, hostName: 'fs01', images, settings, restores: true }), ...http });
    golden(join(FIXTURES, 'menu.ipxe'), text);
    expect(text.startsWith('#!ipxe\n')).toBe(true);
    expect(text).toContain('choose --default local --timeout 10000 target || goto local');
    expect(text).toMatch(/:img1\necho\necho Domain controller image: .*USN rollback/);
    expect(text).toContain('prompt --key y Press y to restore dc01-2026-11-20 anyway');
    expect(text).not.toContain('${evil}'); // free text cannot inject iPXE settings
    expect(text).toContain('login || goto start');
  });
  it('menu with a notice and no images', () => {
    const text = r.render('menu', { ...menuContext({ mac: MAC, hostName: undefined, images: [], settings, restores: true, notice: 'Task 7 started but did not finish' }), ...tftpTransport('tftp://10.0.0.1') });
    golden(join(FIXTURES, 'menu-empty.ipxe'), text);
    expect(text).toContain('(no images published yet)');
    // Over TFTP the login parameters travel as path segments (no query strings).
    expect(text).toContain('chain --autofree tftp://10.0.0.1/auth/${net0/mac:hexhyp}/${mode}/${image}/${username:uristring}/${password:uristring}.ipxe || goto start');
  });
  it('environment: kernel, initrd and the command line the agent reads', () => {
    const cmdline = kernelCmdline({ server: { base: 'http://10.0.0.1:8080', token: 'TOKEN' }, mode: 'restore', image: 'fs01', task: 7, disk: '/dev/sda' });
    expect(cmdline).toBe('netrestore.server=http://10.0.0.1:8080 netrestore.token=TOKEN netrestore.mode=restore netrestore.image=fs01 netrestore.task=7 netrestore.disk=/dev/sda quiet console=tty0 console=ttyS0,115200');
    // What the menu writes is what the agent reads.
    expect(parseCmdline(cmdline)).toEqual({ server: 'http://10.0.0.1:8080', token: 'TOKEN', mode: 'restore', image: 'fs01', task: 7, disk: '/dev/sda' });
    const text = r.render('environment', { ...http, mode: 'restore', mac: MAC, image: 'fs01', task: 7, kernel: 'vmlinuz', initrd: 'initrd.img', cmdline });
    golden(join(FIXTURES, 'environment.ipxe'), text);
    expect(text).toContain('|| goto failed');
    expect(text).toContain('BOOTIF=01-${netX/mac:hexhyp}'); // init asks for an address on the card that booted first
  });
  it('takes the configured default entry only when it exists, else the local disk', () => {
    const pick = (defaultEntry: string, restores = true) => (menuContext({ mac: MAC, hostName: undefined, images, settings: { ...settings, defaultEntry }, restores }) as { defaultEntry: string }).defaultEntry;
    expect(pick('shell')).toBe('shell');
    expect(pick('capture')).toBe('capture');
    expect(pick('dc01-2026-11-20')).toBe('img1');
    expect(pick('no-such-image')).toBe('local');
    // Without HTTP there are no image or capture entries to default to.
    expect(pick('shell', false)).toBe('shell');
    expect(pick('capture', false)).toBe('local');
    expect(pick('dc01-2026-11-20', false)).toBe('local');
  });
  it('menu without HTTP: the local disk and the restore shell, and a line saying restores need HTTP', () => {
    const text = r.render('menu', { ...menuContext({ mac: MAC, hostName: 'fs01', images, settings, restores: false }), ...tftpTransport('tftp://10.0.0.1') });
    golden(join(FIXTURES, 'menu-tftp-only.ipxe'), text);
    expect(text.startsWith('#!ipxe\n')).toBe(true);
    expect(text).toContain('item --gap Restore and capture need HTTP on the server (--http-port), which is off:');
    expect(text).toContain('item local Boot from local disk');
    expect(text).toContain('item shell Restore shell');
    expect(text).not.toMatch(/^item (img\d|capture) /m);
    expect(text).not.toContain('fs01-2026-11-24');
    expect(text).toContain('choose --default local');
  });
  it('environment without HTTP: a shell command line with no server and no token', () => {
    const cmdline = kernelCmdline({ server: null, mode: 'shell' });
    expect(cmdline).toBe('netrestore.mode=shell quiet console=tty0 console=ttyS0,115200');
    const text = r.render('environment', { ...tftpTransport('tftp://10.0.0.1'), mode: 'shell', mac: MAC, image: null, task: null, kernel: 'vmlinuz', initrd: 'initrd.img', cmdline });
    expect(text).toContain('kernel tftp://10.0.0.1/vmlinuz initrd=initrd.img netrestore.mode=shell quiet');
    expect(text).toContain('initrd --name initrd.img tftp://10.0.0.1/initrd.img');
  });

  it('keeps iPXE syntax out of free text', () => {
    expect(ipxeText('a ${x} || b && c; {d}\nnext')).toBe('a x b c d next');
  });
});

describe('menu login', () => {
  const isToken = (t: string) => t === 'the-admin-token';
  it('takes the menu user with the menu password, and not the admin token then', async () => {
    const check = menuLogin({ menuUser: 'admin', menuPassword: 'letmein-please' }, isToken);
    expect(await check('admin', 'letmein-please')).toEqual({ ok: true, user: null, role: 'admin' });
    expect(await check('admin', 'letmein-pleasE')).toEqual({ ok: false, knownUser: true });
    expect((await check('admin', 'letmein')).ok).toBe(false);
    expect((await check('admin', 'the-admin-token')).ok).toBe(false);
    expect(await check('root', 'letmein-please')).toEqual({ ok: false, knownUser: false });
  });
  it('takes the admin token as the password when no menu password is set', async () => {
    const check = menuLogin({ menuUser: 'ops', menuPassword: undefined }, isToken);
    expect((await check('ops', 'the-admin-token')).ok).toBe(true);
    expect((await check('ops', '')).ok).toBe(false);
    expect((await check('admin', 'the-admin-token')).ok).toBe(false);
  });
  it('takes accounts only, with their roles, once there is one', async () => {
    const users = new UserStore(openState(':memory:'));
    const check = menuLogin({ menuUser: 'admin', menuPassword: 'letmein-please' }, isToken, users);
    expect((await check('admin', 'letmein-please')).ok).toBe(true); // no account yet: as before
    users.add('vera', 'viewer', await hashPassword('vera-password'));
    users.add('otto', 'operator', await hashPassword('otto-password'));
    expect(await check('admin', 'letmein-please')).toEqual({ ok: false, knownUser: false });
    expect((await check('ops', 'the-admin-token')).ok).toBe(false);
    expect(await check('otto', 'otto-password')).toEqual({ ok: true, user: 'otto', role: 'operator' });
    expect(await check('vera', 'vera-password')).toEqual({ ok: true, user: 'vera', role: 'viewer' });
    expect(await check('otto', 'vera-password')).toEqual({ ok: false, knownUser: true });
  });
});

describe('login guard', () => {
  const IP = '10.0.0.5';
  it('doubles the wait after each wrong password from one address, and forgets after a right one', () => {
    const g = new LoginGuard();
    expect(g.wait(IP, 0)).toBe(0);
    expect(g.failed(IP, 0)).toBe(2);
    expect(g.wait(IP, 500)).toBe(2);
    expect(g.wait(IP, 2000)).toBe(0);
    expect(g.failed(IP, 2000)).toBe(4);
    expect(g.failed(IP, 6000)).toBe(8);
    expect(g.wait('10.0.0.6', 6000)).toBe(0); // other addresses are not slowed
    g.succeeded(IP);
    expect(g.wait(IP, 6001)).toBe(0);
    for (let i = 0; i < 10; i++) g.failed(IP, 10_000);
    expect(g.wait(IP, 10_000)).toBe(60); // capped
  });

  it('remembers at most `cap` addresses, the oldest failure going first, and starts afresh after a quiet while', () => {
    const g = new LoginGuard({ cap: 3, forgetMs: 60_000 });
    for (const a of ['a', 'b', 'c']) g.failed(a, 0);
    g.failed('a', 1); // a is now the newest
    g.failed('d', 2);
    expect(g.size).toBe(3);
    expect(g.wait('b', 3)).toBe(0); // evicted
    expect(g.wait('a', 3)).toBe(4);
    for (let i = 0; i < 100_000; i++) g.failed(`10.1.${i >> 8}.${i & 255}`, 5);
    expect(g.size).toBe(3);
    const h = new LoginGuard({ forgetMs: 60_000 });
    h.failed(IP, 0), h.failed(IP, 2000), h.failed(IP, 6000);
    expect(h.failed(IP, 50_000)).toBe(16); // within the window: it keeps counting
    expect(h.failed(IP, 200_000)).toBe(2); // quiet for longer: afresh
  });

  it('knows an IPv4 client the same with or without its IPv6 mapping', () => {
    expect(clientAddress('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5')).toBe('10.0.0.5');
    expect(clientAddress('fe80::1')).toBe('fe80::1');
    expect(clientAddress(undefined)).toBe('?');
  });
});
