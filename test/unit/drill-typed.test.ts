/**
 * The typed drill's table and the serial-console helper, over a fake serial
 * line: the agent's real console (runConsole, its screens and its
 * line-diffing terminal) on one end, the drill's steps on the other.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Disk } from '../../src/restore-agent/disks.ts';
import type { RestoreJob } from '../../src/restore-agent/jobs.ts';
import type { ImageInfo } from '../../src/restore-agent/console/screens.ts';
import { runConsole, type ConsoleExit } from '../../src/restore-agent/console/session.ts';
import { redraw, type Terminal } from '../../src/restore-agent/console/terminal.ts';
import { describeKeys, KEY, loginForm, ScreenText, screenText, SerialLine, StepScreenError, Typist } from '../../src/drill/serial-keys.ts';
import { chooseImage, typedRestoreSteps, type Step } from '../../src/drill/typed-steps.ts';

const CTX = { image: 'drill-test', user: 'drill', password: 'Right-Password-1', wrongPassword: 'not-this-one', roleWarning: false };
const steps = typedRestoreSteps(CTX);
const named = (name: string): Step => steps.find((s) => s.name === name)!;

const IMAGE = {
  format: 'netrestore-image',
  version: 1,
  name: 'drill-test',
  description: 'boots and prints a marker',
  created: '2026-12-02T06:00:00.000Z',
  role: 'generic',
  warnings: [],
  source: { size: 40 * 1024 * 1024, logicalSectorSize: 512 },
  partitionTable: { type: 'mbr', partitions: [] },
  chunkSize: 4 * 1024 * 1024,
  totals: { raw: 0, zero: 0, stored: 0, shared: 0, chunks: 0, zeroChunks: 0 },
  sha256: '0'.repeat(64),
} as unknown as ImageInfo;
const VDA: Disk = { name: 'vda', path: '/dev/vda', model: 'unknown model', serial: '', size: 40 * 1024 * 1024, removable: false, table: 'none', partitions: 0, holdsData: false };

/**
 * The agent's console as the drill's VM runs it (booted from the menu with
 * mode=restore and the image), its terminal writing to a fake serial line;
 * `alter` changes the text of the screens, as a changed product would.
 */
function agentOnSerial(alter: (line: string) => string = (l) => l) {
  const screen = new PassThrough();
  const keyboard = new PassThrough();
  const keys: string[] = [];
  const waiting: ((k: string) => void)[] = [];
  keyboard.on('data', (d: Buffer) => {
    const k = d.toString('latin1');
    const w = waiting.shift();
    if (w) w(k);
    else keys.push(k);
  });
  let prev: string[] | undefined;
  const term: Terminal = {
    draw(lines) {
      const next = lines.map(alter);
      screen.write(redraw(prev, next));
      prev = next;
    },
    key: () => (keys.length ? Promise.resolve(keys.shift()!) : new Promise((r) => waiting.push(r))),
    close: () => undefined,
  };
  const restores: RestoreJob[] = [];
  const exit: Promise<ConsoleExit> = runConsole({
    term,
    host: { mac: '52:54:00:d1:11:01', ip: '10.213.0.100', server: '10.213.0.1:8080' },
    params: { server: 'http://10.213.0.1:8080', token: 't', mode: 'restore', image: 'drill-test', task: undefined, disk: undefined },
    images: async () => [IMAGE],
    disks: async () => [VDA],
    restore: async (j) => {
      restores.push(j);
      j.onProgress?.({ phase: 'restore', done: IMAGE.source.size, total: IMAGE.source.size });
      return { image: j.image, target: j.target, seconds: 1, bytesTotal: IMAGE.source.size, bytesFetched: 1, bytesWritten: IMAGE.source.size, chunksSkipped: 0, chunksWritten: 10, verified: true, gptRelocated: false, grown: false, chunksFree: 0, minimalForm: false };
    },
    capture: async () => {
      throw new Error('no capture in this drill');
    },
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  return { line: new SerialLine([screen], keyboard), restores, exit, screen };
}

const AGENT_STEPS = ['choose-disk', 'disk-name-enter-alone', 'disks-come-back', 'type-disk-name', 'restore', 'enter-reboots'];

describe('the typed drill over a serial line', () => {
  it("types the agent's part of the table: disk, Enter alone goes back without writing, the disk's name, Enter reboots", async () => {
    const agent = agentOnSerial();
    const typist = new Typist(agent.line);
    const seen: string[] = [];
    for (const name of AGENT_STEPS) {
      const { match, keys } = await typist.step(named(name), 5000);
      seen.push(`${name}: ${describeKeys(keys)}`);
      // Enter alone went back to the disk list: nothing was restored yet.
      if (name === 'disks-come-back') expect(agent.restores).toEqual([]);
      if (name === 'type-disk-name') expect(match[1]).toBe('vda');
    }
    expect(seen).toEqual(['choose-disk: 1 <Enter>', 'disk-name-enter-alone: <Enter>', 'disks-come-back: 1 <Enter>', 'type-disk-name: vda <Enter>', 'restore: no keys', 'enter-reboots: <Enter>']);
    expect(agent.restores.map((j) => [j.image, j.target])).toEqual([['drill-test', '/dev/vda']]);
    expect(await agent.exit).toBe('reboot');
  });

  it("fails on a changed prompt with the step's name and the screen it saw", async () => {
    const agent = agentOnSerial((l) => l.replace(' Disk number: ', ' Disk no.: '));
    const err = await new Typist(agent.line).step(named('choose-disk'), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepScreenError);
    const e = err as StepScreenError;
    expect(e.step).toBe('choose-disk');
    expect(e.message).toMatch(/^step choose-disk \(the environment boots, the agent lists the disks: the first\): waited for \/.*Disk number: .*\/, not in 1 s; the screen showed:\n/);
    // What a person would have read: the list and the changed prompt.
    expect(e.screen).toContain('Restore drill-test: which disk?');
    expect(e.screen).toMatch(/1 {2}vda +40\.0 MiB/);
    expect(e.screen).toContain(' Disk no.: ');
    expect(agent.restores).toEqual([]);
  });

  it('says when the machine stopped before the screen came', async () => {
    const screen = new PassThrough();
    const line = new SerialLine([screen], new PassThrough());
    screen.write('Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n');
    setTimeout(() => screen.destroy(), 50);
    const err = (await new Typist(line).step(named('menu-choose-image'), 60_000).catch((e: unknown) => e)) as StepScreenError;
    expect(err.message).toMatch(/^step menu-choose-image \(.*\): waited for .*, the machine stopped first; the screen showed:\nBooting from Hard Disk\.\.\.\nBoot failed: not a bootable disk\n$/);
  });
});

/** iPXE's menu as the drill's serial console shows it (from a drill's console), three images. */
const MENU = [
  'netrestore - drill 52:54:00:d1:11:01',
  '  Restore an image (login required):',
  '  fs01-2026-11-24  file server (2026-11-24, 40.0 GiB)',
  '  drill-test-old  an older one (2026-11-20, 40.0 MiB)',
  '  drill-test  boots and prints a marker (2026-12-02, 40.0 MiB)',
  '  Other:',
  '  Boot from local disk                                                  (299)',
  '  Capture this machine as a new image',
  '  Restore shell',
  '  Boot from local disk                                                  (298)',
  '',
].join('\n');

describe('the boot menu and the login form', () => {
  it('moves Home, then Down to the image by its name (not a name it starts with), then Enter', async () => {
    const keyboard = new PassThrough();
    const pressed: string[] = [];
    keyboard.on('data', (d: Buffer) => pressed.push(d.toString('latin1')));
    const screen = new PassThrough();
    const line = new SerialLine([screen], keyboard);
    screen.write(MENU);
    const { keys } = await new Typist(line).step(named('menu-choose-image'), 1000);
    expect(keys).toEqual([KEY.home, KEY.down, KEY.down, KEY.enter]);
    expect(pressed).toEqual(['\x1b[H', '\x1b[B', '\x1b[B', '\r']);
  });

  it("fails with the menu it saw when the image is not in it", async () => {
    const screen = new PassThrough();
    const line = new SerialLine([screen], new PassThrough());
    screen.write(MENU.replace('  drill-test  boots', '  other-image  boots'));
    const err = (await new Typist(line).step(named('menu-choose-image'), 1000).catch((e: unknown) => e)) as StepScreenError;
    expect(err.step).toBe('menu-choose-image');
    expect(err.message).toContain('but the menu does not list drill-test among 3 image line(s); the screen showed:\nnetrestore - drill');
    expect(err.screen).toContain('other-image  boots');
  });

  it('empties both fields of the login form before typing (iPXE fills them in with the last attempt), and hides the password in reports', () => {
    const keys = loginForm('drill', 'Right-Password-1');
    expect(keys).toEqual([KEY.end, KEY.clearLine, ...'drill', KEY.enter, KEY.end, KEY.clearLine, ...'Right-Password-1', KEY.enter]);
    expect(KEY.clearLine).not.toBe('\x01'); // Ctrl-A is qemu's monitor escape on -serial mon:stdio
    expect(describeKeys(keys, ['Right-Password-1'])).toBe('<End> <Ctrl-U> drill <Enter> <End> <Ctrl-U> <hidden> <Enter>');
    expect(named('login').keys).toEqual(keys);
    expect(named('login-wrong-password').keys).toEqual(loginForm('drill', 'not-this-one'));
  });

  it('asks for y at a role warning, before each login, only when the image has one', () => {
    expect(steps.map((s) => s.name)).not.toContain('menu-confirm-role');
    const dc = typedRestoreSteps({ ...CTX, roleWarning: true }).map((s) => s.name);
    expect(dc.slice(0, 7)).toEqual(['menu-choose-image', 'menu-confirm-role', 'login-wrong-password', 'login-refused', 'menu-comes-back', 'menu-confirm-role-again', 'login']);
    expect(new Set(dc).size).toBe(dc.length); // one JUnit test case a step: names are unique
  });

  it('chooseImage reads the block of images between the headings', () => {
    const m = /Restore an image \(login required\):[^\n]*\n([\s\S]*?)\n[ \t]*Other:/.exec(MENU)!;
    expect(chooseImage(m, 'fs01-2026-11-24')).toEqual([KEY.home, KEY.enter]);
    expect(chooseImage(m, 'drill-test-old')).toEqual([KEY.home, KEY.down, KEY.enter]);
  });
});

describe('the screen as a person reads it', () => {
  it('is the same whatever the reads, and never changes what it showed (a place in it stays valid)', () => {
    let prev: string[] | undefined;
    let raw = '';
    for (const lines of [['a', 'b', ' Disk number: '], ['a', 'b', ' Disk number: 1'], ['x', 'b', ' Disk name: '], ['x', 'b', ' Disk name: vda']]) {
      raw += `\x1b[1m${redraw(prev, lines)}\x1b[0m\r\n`;
      prev = lines;
    }
    const whole = screenText(raw);
    for (const size of [1, 2, 3, 5, 7]) {
      const t = new ScreenText();
      for (let i = 0; i < raw.length; i += size) {
        t.feed(raw.slice(i, i + size));
        expect(whole.startsWith(t.text)).toBe(true);
      }
      expect(t.text).toBe(whole);
    }
    expect(whole).not.toMatch(/\x1b|\r/);
    expect(whole).toContain('\n Disk number: \n');
    expect(whole).toContain('\n Disk name: vda\n');
    expect(whole).not.toMatch(/\n{3}/);
  });
});
