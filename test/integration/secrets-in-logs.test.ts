/**
 * No secret in any log line. The real service (serve(), HTTP and TFTP) runs
 * with a memory sink at debug level; a first start generates the admin
 * token (written to a root-only file, never logged); then menu logins over
 * HTTP and TFTP with the admin token as the menu password (right and
 * wrong), the admin API, a restore and a capture through the real CLI. Every
 * log line, and the CLI's output, is searched for every secret.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { BIN, startServe } from '../../src/drill/service.ts';
import { createLogger, formatHuman, type LogEvent } from '../../src/log.ts';
import { serve, type Running } from '../../src/serve.ts';
import { buildTestDisk } from '../helpers/disks.ts';
import { lossyGet } from '../helpers/tftp-client.ts';

const HTTP = 18611;
const TFTP = 18612;
const B = `http://127.0.0.1:${HTTP}`;
const MAC = '52:54:00:61:00:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-secrets-'));
const images = join(dir, 'store');
const stateDir = join(dir, 'state');
const events: LogEvent[] = [];
const cliOutput: string[] = [];
const secrets = new Map<string, string>(); // what → value
let running: Running;
let admin: string;
let disk: string;

const nr = async (...a: string[]) => {
  const r = await execa(BIN, a, { reject: false, all: true, env: { NETRESTORE_DEBUG: '1' } });
  cliOutput.push(`netrestore ${a[0]}: ${r.all}`);
  return r;
};
const get = async (path: string, token?: string) => {
  const r = await fetch(B + path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, text: await r.text() };
};
const sessionOf = (script: string) => /netrestore\.token=(\S+)/.exec(script)?.[1];

beforeAll(async () => {
  mkdirSync(join(dir, 'boot'));
  mkdirSync(stateDir);
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'boot', 'initrd.img'), 'initrd');
  disk = await buildTestDisk(dir, 'src', { sizeMiB: 80 });
  expect((await nr('publish', disk, '--name', 'fs01', '--images', images)).exitCode).toBe(0);
  const config = loadServeConfig({}, { dhcp: 'off', listen: '127.0.0.1', httpPort: HTTP, tftpPort: TFTP, bootDir: join(dir, 'boot'), images, state: join(stateDir, 'netrestore.db'), logLevel: 'debug' });
  running = await serve(config, createLogger((e) => events.push(e), 'debug'));
  admin = readFileSync(join(stateDir, 'netrestore.admin-token'), 'utf8').trim();
  secrets.set('admin token', admin);
  secrets.set('admin token, URI-encoded', encodeURIComponent(admin));
}, 180_000);
afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the generated admin token', () => {
  it('is in a file only its owner may read, beside the state database, and the log names the file', () => {
    const file = join(stateDir, 'netrestore.admin-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(admin).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const said = events.find((e) => e.event === 'http.admin-token');
    expect(said).toMatchObject({ level: 'warn', file });
  });
  it('opens the admin API', async () => {
    expect((await get('/api/hosts', admin)).status).toBe(200);
    // A wrong token is refused in auth-scopes.test.ts: here it would make this address wait at the menu login below.
  });
});

describe('a day of logins, restores and captures', () => {
  it('menu login over HTTP: a wrong password, then the right one (the admin token)', async () => {
    const wrong = 'Wr0ng-but-close-' + admin.slice(0, 8);
    secrets.set('wrong password', wrong);
    const bad = await get(`/auth.ipxe?mac=${MAC}&mode=restore&image=fs01&username=admin&password=${encodeURIComponent(wrong)}`);
    expect(bad.text).toContain('Wrong user name or password');
    await new Promise((r) => setTimeout(r, 2100)); // the login guard's wait after one failure
    const ok = await get(`/auth.ipxe?mac=${MAC}&mode=restore&image=fs01&username=admin&password=${encodeURIComponent(admin)}`);
    const token = sessionOf(ok.text);
    expect(token, ok.text).toBeDefined();
    secrets.set('session token (HTTP login)', token!);
  });

  it('menu login over TFTP, whose path carries the password', async () => {
    const mac = '52-54-00-61-00-02';
    const { data } = await lossyGet(TFTP, `auth/${mac}/restore/fs01/admin/${encodeURIComponent(admin)}.ipxe`);
    const token = sessionOf(data.toString());
    expect(token, data.toString()).toBeDefined();
    secrets.set('session token (TFTP login)', token!);
    // The transfer was logged, with the password segment taken out.
    const done = events.filter((e) => e.event === 'tftp.done' && String(e.file).startsWith(`auth/${mac}/`));
    expect(done.map((e) => e.file)).toEqual([`auth/${mac}/restore/fs01/admin/[redacted].ipxe`]);
  });

  it('a restore through the CLI with the session token of the TFTP login', async () => {
    const r = await nr('restore', '--server', B, '--token', secrets.get('session token (TFTP login)')!, '--image', 'fs01', '--target', join(dir, 'restored.raw'), '--create-file', '--json');
    expect(r.exitCode, r.all).toBe(0);
  }, 120_000);

  it('a capture through a task: the session token of its boot script', async () => {
    const made = await nr('hosts', 'task', '52:54:00:61:00:03', 'capture', 'cap01', '--state', join(stateDir, 'netrestore.db'));
    const id = /task (\d+)/.exec(made.stdout)?.[1];
    expect(id, made.all).toBeDefined();
    const script = await get('/boot.ipxe?mac=52:54:00:61:00:03');
    const token = sessionOf(script.text);
    expect(token, script.text).toBeDefined();
    secrets.set('session token (capture task)', token!);
    const r = await nr('capture', '--server', B, '--token', token!, '--source', disk, '--name', 'cap01', '--task', id!, '--json');
    expect(r.exitCode, r.all).toBe(0);
    expect((await get('/api/images/cap01', admin)).status).toBe(200);
  }, 120_000);

  it('a failed agent call with a token that does not open the API', async () => {
    const r = await nr('restore', '--server', B, '--token', `${admin}x`, '--image', 'fs01', '--target', join(dir, 'nope.raw'), '--create-file', '--json');
    secrets.set('a token one character off', `${admin}x`);
    expect(r.exitCode).not.toBe(0);
  });

  it('not one log line, JSON or human, holds a secret; nor does the CLI output', () => {
    expect(events.length).toBeGreaterThan(20);
    for (const want of ['boot.login', 'boot.login-failed', 'tftp.done', 'images.published', 'http.login-failed', 'task.state']) expect(events.some((e) => e.event === want), want).toBe(true);
    const lines = events.flatMap((e) => [JSON.stringify(e), formatHuman(e)]);
    for (const [what, value] of secrets) {
      for (const line of lines) expect(line.includes(value), `${what} in the log: ${line}`).toBe(false);
      for (const out of cliOutput) expect(out.includes(value), `${what} in the CLI output: ${out}`).toBe(false);
    }
  });
});

describe('the real command', () => {
  it('serve on first start: JSON lines on stdout, the token file named, the token nowhere', async () => {
    const own = join(dir, 'cli-state');
    mkdirSync(own);
    const served = await startServe(['--dhcp', 'off', '--tftp-port', 'off', '--http-port', '18613', '--listen', '127.0.0.1', '--images', images, '--state', join(own, 'n.db'), '--log-level', 'debug']);
    try {
      await served.waitFor('http.listening');
      const said = await served.waitFor('http.admin-token');
      expect(said.file).toBe(join(own, 'n.admin-token'));
      const token = readFileSync(join(own, 'n.admin-token'), 'utf8').trim();
      const r = await fetch('http://127.0.0.1:18613/api/hosts', { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      expect(JSON.stringify(served.events) + served.text()).not.toContain(token);
    } finally {
      await served.stop();
    }
  });
});
