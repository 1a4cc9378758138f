/**
 * The agent's console when GRUB booted the machine (netrestore.login=console):
 * the login comes before any image is listed, the password never shows, a
 * task asks nothing; and the header says whether Secure Boot is on.
 */
import { describe, expect, it } from 'vitest';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import { COLS, ROWS, imageListScreen, loginScreen } from '../../src/restore-agent/console/screens.ts';
import { runConsole, type ConsoleDeps } from '../../src/restore-agent/console/session.ts';
import type { Terminal } from '../../src/restore-agent/console/terminal.ts';
import { secureBootFromLog } from '../../src/restore-agent/secure-boot.ts';

const HOST = { mac: '52:54:00:12:34:56', ip: '10.0.0.50', server: '10.0.0.1:8080', secureBoot: true };

function scripted(keys: string[]): Terminal & { screens: string[][] } {
  const screens: string[][] = [];
  return { screens, draw: (l) => void screens.push(l), key: () => (keys.length ? Promise.resolve(keys.shift()!) : new Promise(() => {})), close: () => {} };
}

function deps(term: Terminal, params: ConsoleDeps['params'], calls: string[]): ConsoleDeps {
  return {
    term,
    host: HOST,
    params,
    login: async (u, p) => {
      calls.push(`login ${u}`);
      if (p !== 'right-password') throw new Error('the server refused the login: wrong user name or password');
    },
    images: async () => {
      calls.push('images');
      return [];
    },
    disks: async () => [],
    restore: async () => {
      throw new Error('no restore in this test');
    },
    capture: async () => {
      throw new Error('no capture in this test');
    },
    now: () => 0,
    sleep: async () => {},
  };
}

describe('console login', () => {
  const params = parseCmdline('netrestore.server=http://10.0.0.1:8080 netrestore.login=console netrestore.mode=shell');

  it('reads netrestore.login=console; absent, no login flag', () => {
    expect(params).toMatchObject({ login: true, token: undefined, mode: 'shell' });
    expect(parseCmdline('netrestore.server=http://s netrestore.token=t').login).toBeUndefined();
  });

  it('asks user and password before anything is listed; a refusal shows the reason and asks again; the password shows as stars', async () => {
    const calls: string[] = [];
    const term = scripted(['admin\r', 'bad\r', 'admin\r', 'right-password\r']);
    expect(await runConsole(deps(term, params, calls))).toBe('shell');
    expect(calls).toEqual(['login admin', 'login admin']);
    const text = term.screens.map((s) => s.join('\n')).join('\n');
    expect(text).toContain('Log in for shell');
    expect(text).toContain('! the server refused the login: wrong user name or password');
    expect(text).toContain(' Password: **************');
    expect(text).not.toContain('right-password');
  });

  it('restore of a chosen image: the login first, then the images', async () => {
    const calls: string[] = [];
    const term = scripted(['admin\r', 'right-password\r']);
    void runConsole(deps(term, { ...params, mode: 'restore', image: 'web-01' }, calls));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls[0]).toBe('login admin');
    expect(calls.slice(1).every((c) => c === 'images') && calls.length > 1).toBe(true);
    expect(term.screens[0]!.join('\n')).toContain('Log in for restore web-01');
  });

  it('a task needs no login, even when booted by GRUB', async () => {
    const calls: string[] = [];
    const term = scripted([]);
    void runConsole(deps(term, { ...params, mode: 'restore', image: 'web-01', task: 7, token: 'task-token' }, calls));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.some((c) => c.startsWith('login'))).toBe(false);
  });

  it('login screens fit 80x25 in plain ASCII', () => {
    for (const s of [loginScreen(HOST, { mode: 'capture' }, 'user', 'adm'), loginScreen(HOST, { mode: 'restore', image: 'x'.repeat(100) }, 'password', '***', 'e'.repeat(200), 'admin')]) {
      expect(s.length).toBe(ROWS);
      for (const l of s) expect(l.length).toBeLessThanOrEqual(COLS);
      for (const l of s) expect(l).toMatch(/^[\x20-\x7e]*$/);
    }
  });
});

describe('Secure Boot on the console', () => {
  it("reads the kernel's own word on it from its log", () => {
    expect(secureBootFromLog('[    0.000000] secureboot: Secure boot enabled\n[    0.000000] Kernel is locked down from EFI Secure Boot')).toBe(true);
    expect(secureBootFromLog('[    0.000000] secureboot: Secure boot disabled\n')).toBe(false);
    expect(secureBootFromLog('[    0.000000] Linux version 6.1.0\n')).toBeUndefined();
  });

  it('the header says so on UEFI machines, nothing on BIOS ones', () => {
    expect(imageListScreen(HOST, [], 0, '')[0]).toMatch(/^ netrestore  Secure Boot: on\s+10\.0\.0\.50/);
    expect(imageListScreen({ ...HOST, secureBoot: false }, [], 0, '')[0]).toMatch(/^ netrestore  Secure Boot: off\s/);
    expect(imageListScreen({ ...HOST, secureBoot: undefined }, [], 0, '')[0]).toMatch(/^ netrestore\s+10\.0\.0\.50/);
  });
});
