/**
 * GRUB configurations of the signed chain, every branch of the boot
 * decision: golden files, what each must and must not contain, and GRUB's
 * own parser (grub-script-check, from grub-common) on every one.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { warningsFor } from '../../src/shared/format.ts';
import { planBoot, type ImageSummary, type MenuSettings } from '../../src/menus/boot-plan.ts';
import { grubConfig, type GrubInput } from '../../src/menus/grub-face.ts';
import { GrubRenderer, grubWord, quoteAll } from '../../src/menus/grub-render.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import type { Task } from '../../src/state/tasks.ts';
import { golden } from '../helpers/golden.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/menus');
const MAC = '52:54:00:12:34:56';
const API = 'http://10.0.0.1:8080';
const task = (state: Task['state'], kind: Task['kind'] = 'restore'): Task => ({ id: 7, mac: MAC, kind, image: 'fs01', disk: null, state, error: null, created: 0, updated: 0 });
const host = (o: { ignore?: boolean; menuTimeout?: number | null } = {}) => ({ mac: MAC, name: 'fs01', notes: null, ignore: o.ignore ?? false, lastSeen: null, menuTimeout: o.menuTimeout ?? null });
const images: ImageSummary[] = [
  { name: 'fs01-2026-11-24', description: "file server after KB5041 ${evil}; reboot 'now'\nset x=1", created: '2026-11-24T10:00:00.000Z', role: 'file-server', warnings: [], source: { size: 40 * 1024 ** 3 } },
  { name: 'dc01-2026-11-20', description: 'domain controller', created: '2026-11-20T10:00:00.000Z', role: 'domain-controller', warnings: warningsFor('domain-controller'), source: { size: 60 * 1024 ** 3 } },
  { name: 'ex01-2026-11-21', description: 'mail', created: '2026-11-21T10:00:00.000Z', role: 'exchange', warnings: warningsFor('exchange'), source: { size: 80 * 1024 ** 3 } },
];
const settings: MenuSettings = { title: 'netrestore at HQ', timeoutSeconds: 10, defaultEntry: 'local', kernel: 'vmlinuz', initrd: 'initrd.img' };
const r = new GrubRenderer();

function render(o: Partial<GrubInput> & { restores?: boolean; t?: Task }): string {
  const restores = o.restores ?? true;
  const h = o.host === undefined ? host() : o.host;
  const mac = 'mac' in o ? o.mac : MAC;
  return grubConfig(r, {
    plan: o.plan ?? planBoot(mac, h, o.t, restores),
    mac,
    host: h,
    images: o.images ?? (restores ? images : []),
    settings: o.settings ?? settings,
    apiBase: restores ? API : undefined,
    taskToken: o.taskToken ?? (restores && o.t ? 'TOKEN123' : null),
  });
}

/** GRUB's own parser: exit 0 when the script is valid GRUB syntax. */
async function grubParses(text: string): Promise<void> {
  if (!existsSync('/usr/bin/grub-script-check')) return;
  const p = await execa('grub-script-check', [], { input: text, reject: false, all: true });
  expect(p.exitCode, `${p.all}\n${text}`).toBe(0);
}

/** The kernel command lines (words after `linux /vmlinuz`), unquoted as GRUB would. */
const linuxLines = (text: string) =>
  [...text.matchAll(/^\s*linux \/'vmlinuz' (.*) BOOTIF=01-\$\{net_default_mac\}$/gm)].map((m) => m[1]!.split(' ').map((w) => w.replace(/^'|'$/g, '')).join(' '));

describe('GRUB words', () => {
  it('quotes so that nothing inside is GRUB syntax: $, ;, spaces, braces, quotes, new lines', () => {
    expect(grubWord('a b')).toBe("'a b'");
    expect(grubWord('${x}; reboot')).toBe("'${x}; reboot'");
    expect(grubWord("it's")).toBe("'it'\\''s'");
    expect(grubWord('one\ntwo\r\tthree')).toBe("'one two  three'");
    expect(grubWord(undefined)).toBe("''");
  });
  it('quotes every non-empty string of a context, keeps empty strings, numbers and booleans', () => {
    expect(quoteAll({ a: 'x', b: '', c: 3, d: true, e: ['y', { f: 'z' }], g: null })).toEqual({ a: "'x'", b: '', c: 3, d: true, e: ["'y'", { f: "'z'" }], g: null });
  });
  it('a hostile image description stays one menu title (GRUB parses it as such)', async () => {
    const text = render({});
    expect(text).toContain("menuentry 'Restore fs01-2026-11-24  file server after KB5041 ${evil}; reboot '\\''now'\\'' set x=1 (2026-11-24, 40.0 GiB) - login at the console' --id img0 {");
    await grubParses(text);
  });
});

describe('GRUB configurations, every branch of the boot decision', () => {
  it('no MAC yet (grub/grub.cfg): this machine’s own file by $net_default_mac as a configuration of its own (its menu shows), else back to the local disk', async () => {
    const text = render({ mac: undefined, plan: { kind: 'chain' } });
    expect(text).toMatch(/^configfile \$prefix\/hosts\/\$\{net_default_mac\}\.cfg$/m);
    expect(text).toMatch(/^exit$/m);
    golden(join(FIXTURES, 'chain.grub'), text);
    await grubParses(text);
  });

  it('an ignored host goes back to its own disk, even with a pending task', async () => {
    const text = render({ host: host({ ignore: true }), t: task('pending') });
    expect(text).toContain("echo 'netrestore: this machine is set to ignore; booting from the local disk'");
    expect(text).toMatch(/^exit$/m);
    expect(text).not.toMatch(/linux|menuentry/);
    await grubParses(text);
  });

  it('a pending task goes straight into the environment with its token: no menu, no login', async () => {
    const text = render({ t: task('pending') });
    expect(text).not.toMatch(/menuentry|login=console/);
    expect(text).toMatch(/^boot$/m);
    const [cmdline] = linuxLines(text);
    const p = parseCmdline(cmdline!);
    expect(p).toMatchObject({ server: API, token: 'TOKEN123', mode: 'restore', image: 'fs01', task: 7 });
    expect(text).toMatch(/^initrd \/'initrd\.img'$/m);
    golden(join(FIXTURES, 'environment.grub'), text);
    await grubParses(text);
  });

  it('a capture task too', async () => {
    const text = render({ t: task('pending', 'capture') });
    expect(parseCmdline(linuxLines(text)[0]!)).toMatchObject({ mode: 'capture', token: 'TOKEN123', task: 7 });
    await grubParses(text);
  });

  it('the menu: the local disk is the default after the timeout; restore, capture and shell log in at the console', async () => {
    const text = render({});
    expect(text).toMatch(/^set timeout=10$/m);
    expect(text).toMatch(/^set default='local'$/m);
    expect(text).toMatch(/menuentry 'Boot from local disk' --id local \{\n\s+echo 'Booting from local disk'\n\s+exit\n\}/);
    const lines = linuxLines(text);
    // Three images, capture, shell; none with a token, every one asking the console for the login.
    expect(lines).toHaveLength(5);
    for (const l of lines) {
      const p = parseCmdline(l);
      expect(p.token).toBeUndefined();
      expect(l).toContain('netrestore.login=console');
      expect(p.server).toBe(API);
    }
    expect(lines.map((l) => parseCmdline(l).mode)).toEqual(['restore', 'restore', 'restore', 'capture', 'shell']);
    expect(lines.map((l) => parseCmdline(l).image)).toEqual(['fs01-2026-11-24', 'dc01-2026-11-20', 'ex01-2026-11-21', undefined, undefined]);
    golden(join(FIXTURES, 'menu.grub'), text);
    await grubParses(text);
  });

  it('domain controller and Exchange: a submenu with the warnings and an explicit "anyway" before anything boots', async () => {
    const text = render({});
    for (const [i, role] of [[1, 'domain-controller'], [2, 'exchange']] as const) {
      const sub = text.slice(text.indexOf(`--id img${i}`), text.indexOf('\n}\n', text.indexOf(`--id img${i}`)));
      expect(text).toMatch(new RegExp(`^submenu 'Restore [^']+\\[${role}\\] - login at the console' --id img${i} \\{`, 'm'));
      for (const w of warningsFor(role)) expect(sub).toContain(grubWord(w));
      expect(sub).toMatch(/menuentry 'Restore \S+ anyway \(login at the console\)'/);
      expect(sub).toMatch(/menuentry 'Back' \{/);
    }
    // The plain file server is one entry, no submenu.
    expect(text).toMatch(/^menuentry 'Restore fs01-2026-11-24/m);
  });

  it('an image as the default, a host timeout, a notice, and no images yet', async () => {
    const a = render({ settings: { ...settings, defaultEntry: 'fs01-2026-11-24' }, host: host({ menuTimeout: 120 }) });
    expect(a).toMatch(/^set default='img0'$/m);
    expect(a).toMatch(/^set timeout=120$/m);
    const b = render({ t: task('started') });
    expect(b).toMatch(/^menuentry 'Task 7 \(restore fs01\) started but did not finish; cancel it or choose again' --id notice \{/m);
    const c = render({ images: [] });
    expect(linuxLines(c).map((l) => parseCmdline(l).mode)).toEqual(['capture', 'shell']);
    for (const t of [a, b, c]) await grubParses(t);
  });

  it('HTTP off: the local disk only (no login could be checked), and a pending task waits with a notice', async () => {
    const text = render({ restores: false, t: task('pending'), settings: { ...settings, defaultEntry: 'shell' } });
    expect(text).not.toMatch(/linux /);
    expect(text).toMatch(/^set default='local'$/m);
    expect(text).toContain('waits for HTTP on the server (--http-port), which is off');
    golden(join(FIXTURES, 'menu-tftp-only.grub'), text);
    await grubParses(text);
  });

  it("an admin's own template (--menu-templates) replaces the built-in one and still gets quoted values", () => {
    const own = new GrubRenderer(join(FIXTURES, 'grub-override'));
    expect(own.render('grub-message', { message: 'a; b' })).toBe("echo own 'a; b'\n");
  });
});
