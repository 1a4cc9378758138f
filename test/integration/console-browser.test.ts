/**
 * The web console in a real browser (Debian's chromium driven by
 * playwright-core) against the real service: log in with the keyboard, add
 * a host, make a restore task, watch the real agent (`netrestore restore`,
 * run here as the booted machine would) progress live on the overview and
 * finish without a reload, see a failed task's error, delete an image only
 * after its confirmation, refuse a form without its CSRF token, and show
 * nothing but the login once logged out. Screenshots of each page go to
 * build/console/.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { ADMIN, publishDisk, publishRandom, slowLink, startConsoleService, type ConsoleService } from '../helpers/console-service.ts';

const SHOTS = join(import.meta.dirname, '../../build/console');
const MAC = '52:54:00:c1:00:01';
const MAC_FAIL = '52:54:00:c1:00:02';
let s: ConsoleService;
let link: { base: string; close(): Promise<void> };
let browser: Browser;
let ctx: BrowserContext;
let page: Page;

const shot = (p: Page, name: string) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  s = await startConsoleService();
  await publishRandom(s, 'fs01', 40);
  await publishRandom(s, 'dc01', 2, ['--role', 'domain-controller']);
  await publishRandom(s, 'old01', 3);
  await publishDisk(s, 'files-2026-12', 'file server, December');
  // Each chunk a quarter second late: the restore lasts long enough to be watched.
  link = await slowLink(s.base, 250);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await ctx.newPage();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await link?.close();
  await s?.close();
});

const agent = (task: number, target: string): ResultPromise =>
  execa(BIN, ['restore', '--server', link.base, '--token', ADMIN, '--task', String(task), '--image', 'fs01', '--target', target, '--yes', '--parallel', '1', '--json'], { reject: false, all: true, env: {} });

describe('the web console in chromium', () => {
  it('shows nothing but the login page before a login', async () => {
    for (const path of ['/', '/hosts', `/hosts/${MAC}`, '/images', '/images/fs01', '/images/fs01/delete', '/drills', '/history']) {
      await page.goto(s.base + path);
      expect(new URL(page.url()).pathname, path).toBe('/login');
      await expect(page.locator('form[action="/login"]').count()).resolves.toBe(1);
      await expect(page.locator('nav').count()).resolves.toBe(0);
    }
    await shot(page, 'login');
  });

  it('logs in with the keyboard alone', async () => {
    await page.goto(s.base + '/login');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Wrong user name or password.');
    await page.waitForTimeout(2100); // the login throttle holds this address back 2 s after one wrong password
    await page.fill('input[name=name]', '');
    await page.focus('input[name=name]');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN);
    await page.keyboard.press('Enter');
    await page.waitForURL(s.base + '/');
    await expect(page.locator('h1').textContent()).resolves.toBe('Overview');
    // Every page is a Tab away: the skip link, then the navigation.
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    const reached: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      reached.push((await page.evaluate(() => document.activeElement?.textContent?.trim())) ?? '');
    }
    expect(reached).toEqual(expect.arrayContaining(['Overview', 'Hosts', 'Images', 'Drills', 'History']));
    const cookie = (await ctx.cookies()).find((c) => c.name === 'netrestore_console')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
  });

  it('adds a host and makes a restore task for it', async () => {
    await page.click('nav >> text=Hosts');
    await page.fill('input[name=mac]', '52-54-00-C1-00-01');
    await page.fill('input[name=name]', 'fs01-server');
    await page.fill('textarea[name=notes]', 'rack 3, the file server');
    await page.click('button:has-text("Add host")');
    await page.waitForURL(`${s.base}/hosts/${MAC}`);
    expect(s.state.hosts.get(MAC)).toMatchObject({ name: 'fs01-server', notes: 'rack 3, the file server' });
    await page.check('input[name=image][value=fs01]');
    await page.click('button:has-text("Make the restore task")');
    await page.waitForURL(`${s.base}/hosts/${MAC}`);
    await expect(page.locator('#task-state').textContent()).resolves.toBe('pending');
    expect(s.state.tasks.current(MAC)).toMatchObject({ kind: 'restore', image: 'fs01', state: 'pending' });
  });

  it('asks twice before a domain controller image, naming the danger', async () => {
    await page.check('input[name=image][value=dc01]');
    await page.click('button:has-text("Make the restore task")');
    await expect(page.locator('h1').textContent()).resolves.toBe('Confirm the restore');
    await expect(page.locator('.warning').textContent()).resolves.toMatch(/USN rollback/);
    await shot(page, 'confirm-dc-restore');
    expect(s.state.tasks.current(MAC)).toMatchObject({ image: 'fs01' });
    await page.click('text=Cancel');
    await page.waitForURL(`${s.base}/hosts/${MAC}`);
    expect(s.state.tasks.current(MAC)).toMatchObject({ image: 'fs01' });
    await shot(page, 'host');
  });

  it('shows the agent\'s restore live on the overview, without a reload, until it ends', async () => {
    await page.goto(s.base + '/');
    const navigations: string[] = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));
    await page.evaluate(() => ((window as unknown as { stayed: number }).stayed = 1));
    await expect(page.locator('#live').textContent()).resolves.toMatch(/waiting for the host to boot|Waiting for their host/i);
    const task = s.state.tasks.current(MAC)!.id;
    const run = agent(task, join(s.dir, 'restored.raw'));
    // A progress report with bytes: pushed by the server, drawn in place.
    const row = page.locator('#live .run[data-image=fs01]');
    await row.waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => {
      const v = document.querySelector<HTMLProgressElement>('#live .run[data-image=fs01] progress')?.value ?? 0;
      return v >= 15 && v < 100;
    }, undefined, { timeout: 60_000 });
    const facts = await row.locator('.run-facts').textContent();
    expect(facts).toMatch(/(writing|verifying) the disk · [\d.]+ (KiB|MiB) of 40\.0 MiB \(\d+ %\) · [\d.]+ (KiB|MiB)\/s · (\d+ (s|min)|time left)/);
    await expect(row.locator('.run-head').textContent()).resolves.toMatch(/fs01-server\s+restore\s+fs01/);
    await shot(page, 'overview-restore-running');
    const first = await page.locator('#live progress').getAttribute('value');
    // It moves on, and ends: the row goes, the end is in "Just ended".
    await page.waitForFunction((v) => (document.querySelector<HTMLProgressElement>('#live .run progress')?.value ?? 101) > Number(v), first, { timeout: 60_000 }).catch(() => undefined);
    await page.locator('#live tr[data-image=fs01] .result.done').waitFor({ timeout: 120_000 });
    await expect(page.locator('#live .run[data-image=fs01]').count()).resolves.toBe(0);
    const r = await run;
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(s.state.tasks.latest(MAC)).toMatchObject({ state: 'done' });
    expect(navigations).toEqual([]);
    await expect(page.evaluate(() => (window as unknown as { stayed?: number }).stayed)).resolves.toBe(1);
    await shot(page, 'overview-restore-done');
  }, 240_000);

  it('shows a capture live too, and the image it made', async () => {
    await page.goto(`${s.base}/hosts/${MAC}`);
    await page.fill('form:has(input[name=kind][value=capture]) input[name=image]', 'fs01-captured');
    await page.click('button:has-text("Make the capture task")');
    await expect(page.locator('#task-state').textContent()).resolves.toBe('pending');
    await page.goto(s.base + '/');
    await page.evaluate(() => ((window as unknown as { stayed: number }).stayed = 2));
    const source = join(s.dir, 'capture-source.raw');
    writeFileSync(source, randomBytes(96 * 1024 * 1024));
    const task = s.state.tasks.current(MAC)!.id;
    const run = execa(BIN, ['capture', '--server', link.base, '--token', ADMIN, '--task', String(task), '--source', source, '--name', 'fs01-captured', '--raw', '--chunk-size', '1', '--json'], { reject: false, all: true, env: {} });
    await page.waitForFunction(() => {
      const v = document.querySelector<HTMLProgressElement>('#live .run[data-image=fs01-captured] progress')?.value ?? 0;
      return v > 0 && v < 100;
    }, undefined, { timeout: 60_000 });
    await expect(page.locator('#live .run[data-image=fs01-captured] .run-facts').textContent()).resolves.toMatch(/capturing the disk · [\d.]+ (KiB|MiB) of 96\.0 MiB/);
    await expect(page.locator('#live .run[data-image=fs01-captured] .run-head').textContent()).resolves.toMatch(/fs01-server\s+capture\s+fs01-captured/);
    await shot(page, 'overview-capture-running');
    await page.locator('#live tr[data-image=fs01-captured] .result.done').waitFor({ timeout: 120_000 });
    const r = await run;
    expect(r.exitCode, String(r.all)).toBe(0);
    await expect(page.evaluate(() => (window as unknown as { stayed?: number }).stayed)).resolves.toBe(2);
    await page.goto(`${s.base}/images`);
    await expect(page.locator('tr[data-image=fs01-captured]').count()).resolves.toBe(1);
  }, 240_000);

  it('shows a failed task\'s error on the overview and the host page', async () => {
    await page.goto(s.base + '/hosts');
    await page.fill('input[name=mac]', MAC_FAIL);
    await page.fill('input[name=name]', 'broken-box');
    await page.click('button:has-text("Add host")');
    await page.check('input[name=image][value=fs01]');
    await page.click('button:has-text("Make the restore task")');
    await page.goto(s.base + '/');
    const task = s.state.tasks.current(MAC_FAIL)!.id;
    // The booted machine's disk is not there: the agent reports the failure with its reason.
    const r = await agent(task, join(s.dir, 'no-such-dir', 'disk.raw'));
    expect(r.exitCode).not.toBe(0);
    const error = s.state.tasks.latest(MAC_FAIL)!.error!;
    expect(error.length).toBeGreaterThan(10);
    await page.locator('#live tr.bad .error', { hasText: error }).waitFor({ timeout: 20_000 });
    await page.reload();
    await expect(page.locator('.failures').textContent()).resolves.toContain(error);
    await page.goto(`${s.base}/hosts/${MAC_FAIL}`);
    await expect(page.locator('#task-state').textContent()).resolves.toBe('failed');
    await expect(page.locator('#task-error').textContent()).resolves.toBe(error);
    await shot(page, 'host-failed-task');
    await page.goto(`${s.base}/history?result=failed`);
    await expect(page.locator('#history').textContent()).resolves.toContain(error);
    await expect(page.locator('#history').textContent()).resolves.not.toContain('fs01-server');
    await shot(page, 'history');
  });

  it('deletes an image only after the confirmation that names what is lost', async () => {
    await page.goto(`${s.base}/images`);
    await shot(page, 'images');
    await page.click('a:has-text("old01")');
    await page.click('a:has-text("Delete…")');
    await expect(page.locator('#lost-chunks').textContent()).resolves.toMatch(/^3 chunks only this image uses are deleted: [\d.]+ MiB freed/);
    await shot(page, 'confirm-delete');
    expect(await s.store.readManifest('old01')).toBeDefined();
    await page.fill('input[name=confirm]', 'old0');
    await page.click('button:has-text("Delete old01 for good")');
    await expect(page.locator('.error').textContent()).resolves.toMatch(/Type the image name old01 exactly to delete it. Nothing was deleted./);
    expect(await s.store.readManifest('old01')).toBeDefined();
    await page.fill('input[name=confirm]', 'old01');
    await page.click('button:has-text("Delete old01 for good")');
    await page.waitForURL(`${s.base}/images`);
    expect(await s.store.readManifest('old01')).toBeUndefined();
    await expect(page.locator('tr[data-image=old01]').count()).resolves.toBe(0);
    expect(s.state.audit.list({ image: 'old01' })[0]).toMatchObject({ action: 'image-remove', actor: expect.stringMatching(/^console admin/) });
  });

  it('shows an image\'s partitions and filesystems, verifies it now, and shows the result', async () => {
    const name = 'files-2026-12';
    await page.goto(`${s.base}/images/${name}`);
    const rows = await page.locator('#partitions tbody tr').allTextContents();
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^1.*fat32.*16\.0 MiB/);
    expect(rows[1]).toMatch(/^2.*ext4.*48\.0 MiB/);
    expect(rows[2]).toMatch(/^3.*ntfs/);
    await expect(page.locator('.facts').first().textContent()).resolves.toMatch(/file server, December[\s\S]*file-server[\s\S]*96\.0 MiB \(gpt\)/);
    await page.click('button:has-text("Verify now")');
    for (let i = 0; i < 300 && !s.state.audit.list({ image: name }).some((e) => e.action === 'image-verify'); i++) await new Promise((r) => setTimeout(r, 200));
    await page.reload();
    await expect(page.locator('#verify-result').textContent()).resolves.toMatch(/^ok: every chunk and the disk checksum match/);
    await shot(page, 'image');
  });

  it('starts a drill, which the server runs as the real `netrestore drill`, and shows how it went', async () => {
    await page.goto(`${s.base}/drills`);
    await page.selectOption('select[name=image]', 'fs01');
    await page.click('button:has-text("Start")');
    await page.waitForURL(/\/drills\/\d+-[0-9a-f]+$/);
    // This service has no restore environment: the drill's own preflight says so.
    for (let i = 0; i < 60; i++) {
      if (!/queued|running/.test((await page.locator('#drill-state').textContent()) ?? '')) break;
      await new Promise((r) => setTimeout(r, 500));
      await page.reload();
    }
    await expect(page.locator('#drill-state').textContent()).resolves.toBe('error');
    await expect(page.locator('#drill-error').textContent()).resolves.toMatch(/lacks vmlinuz, initrd.img, undionly.kpxe: run `netrestore build-env` first|run it as root/);
    await shot(page, 'drill');
    await page.goto(`${s.base}/drills`);
    await shot(page, 'drills');
  });

  it('refuses a form whose CSRF token is missing', async () => {
    await page.goto(`${s.base}/hosts`);
    const hosts = s.state.hosts.list().length;
    // The logged-in browser itself, the form's hidden token taken out.
    await page.evaluate(() => document.querySelector('form[action="/hosts"] input[name=_csrf]')!.remove());
    await page.fill('input[name=mac]', '52:54:00:c1:00:09');
    await page.click('button:has-text("Add host")');
    await expect(page.locator('.error').textContent()).resolves.toMatch(/security token is missing or stale/);
    expect(s.state.hosts.list().length).toBe(hosts);
    const r = await page.request.post(`${s.base}/hosts`, { form: { mac: '52:54:00:c1:00:0a' }, maxRedirects: 0 });
    expect(r.status()).toBe(403);
    expect(s.state.hosts.list().length).toBe(hosts);
  });

  it('fits a phone and reads in the dark', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', storageState: await ctx.storageState() });
    const p = await phone.newPage();
    for (const [path, name] of [['/', 'overview-phone-dark'], [`/hosts/${MAC}`, 'host-phone-dark'], ['/images/fs01', 'image-phone-dark'], ['/history', 'history-phone-dark']] as const) {
      await p.goto(s.base + path);
      // Nothing wider than the screen: no sideways scrolling needed.
      expect(await p.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(390);
      await shot(p, name);
    }
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(18, 20, 23)');
    await phone.close();
  });

  it('shows only the login page once logged out', async () => {
    await page.goto(`${s.base}/`);
    await page.click('button:has-text("Log out")');
    await page.waitForURL(`${s.base}/login`);
    for (const path of ['/', '/hosts', '/images/fs01', '/history', '/drills']) {
      await page.goto(s.base + path);
      expect(new URL(page.url()).pathname, path).toBe('/login');
    }
    const r = await page.request.get(`${s.base}/events`, { headers: { accept: 'text/event-stream' }, maxRedirects: 0 });
    expect(r.status()).toBe(401);
    expect(s.state.audit.list().map((e) => e.action)).toEqual(expect.arrayContaining(['login', 'login-failed', 'host-add', 'task-create', 'image-remove', 'image-verify', 'drill-start', 'logout']));
  });
});
