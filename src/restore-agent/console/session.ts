/**
 * What happens on the console of a machine booted into the restore
 * environment: pick an image, pick a disk, type the disk's name, watch the
 * progress, reboot. With a task from the server, no questions: the work
 * runs and the machine reboots. Everything it touches comes in as `deps`.
 */
import type { Role } from '../../shared/format.ts';
import { NAME_PATTERN } from '../../shared/format.ts';
import type { BootParams } from '../cmdline.ts';
import type { Disk } from '../disks.ts';
import type { CaptureJob, CaptureSummary, RestoreJob, RestoreSummary } from '../jobs.ts';
import { formatBytes, formatDuration, progressClock, type Progress } from '../../shared/progress.ts';
import type { Terminal } from './terminal.ts';
import { captureNameScreen, confirmScreen, loginScreen, diskListScreen, imageListScreen, progressScreen, resultScreen, wrap, type Host, type ImageInfo } from './screens.ts';

export interface ConsoleDeps {
  term: Terminal;
  host: Host;
  params: BootParams;
  images(): Promise<ImageInfo[]>;
  disks(): Promise<Disk[]>;
  restore(j: RestoreJob): Promise<RestoreSummary>;
  capture(j: CaptureJob): Promise<CaptureSummary>;
  /** The login when GRUB booted this machine (params.login): throws with the server's reason when refused. */
  login?(username: string, password: string): Promise<void>;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Seconds an unattended job waits before rebooting (a key press stops it). */
  rebootDelayS?: number;
}

export type ConsoleExit = 'reboot' | 'shell';

/** Keys arrive in bursts (a paste, a serial line): handed out one at a time. */
class Keys {
  #pending: string[] = [];
  readonly #term: Terminal;
  constructor(term: Terminal) {
    this.#term = term;
  }
  async next(): Promise<string> {
    while (!this.#pending.length) {
      const k = await this.#term.key();
      // An escape sequence (arrow keys, F-keys) is one key we ignore.
      this.#pending.push(...(k.startsWith('\x1b') ? ['\x1b'] : [...k]));
    }
    return this.#pending.shift()!;
  }
  /** A key within `ms`, or undefined. */
  async within(ms: number, sleep: (ms: number) => Promise<void>): Promise<string | undefined> {
    return Promise.race([this.next(), sleep(ms).then(() => undefined)]);
  }
}

/** A line typed at the prompt of `screen`: printable characters, backspace, Enter. */
async function ask(term: Terminal, keys: Keys, screen: (input: string) => string[], max = 64): Promise<string> {
  let input = '';
  for (;;) {
    term.draw(screen(input));
    const k = await keys.next();
    if (k === '\r' || k === '\n') return input.trim();
    if (k === '\x7f' || k === '\b') input = input.slice(0, -1);
    else if (k === '\x15' || k === '\x03') input = ''; // Ctrl-U, Ctrl-C: start over
    else if (k >= ' ' && k <= '~' && input.length < max) input += k;
  }
}

export async function runConsole(d: ConsoleDeps): Promise<ConsoleExit> {
  const keys = new Keys(d.term);
  const p = d.params;
  // GRUB could not ask for the login: it happens here, before any image is listed. A task has its token.
  if (p.login && !p.token && p.task === undefined) {
    await loginFlow(d, keys);
    if (p.mode === 'shell') return 'shell';
  }
  if (p.task !== undefined && (p.mode === 'restore' || p.mode === 'capture')) return unattended(d, keys);
  let preset = p.mode === 'restore' ? p.image : undefined;
  if (p.mode === 'capture') {
    const r = await captureFlow(d, keys);
    if (r) return r;
  }
  for (;;) {
    const image = preset ? await findImage(d, preset) : await chooseImage(d, keys);
    preset = undefined;
    if (image === 'shell' || image === 'reboot') return image;
    if (image === 'capture') {
      const r = await captureFlow(d, keys);
      if (r) return r;
      continue;
    }
    if (!image) continue;
    const r = await restoreFlow(d, keys, image);
    if (r) return r;
  }
}

async function loginFlow(d: ConsoleDeps, keys: Keys): Promise<void> {
  let error: string | undefined;
  for (;;) {
    const user = await ask(d.term, keys, (input) => loginScreen(d.host, d.params, 'user', input, error));
    if (!user) continue;
    const password = await ask(d.term, keys, (input) => loginScreen(d.host, d.params, 'password', '*'.repeat(input.length), error, user), 128);
    try {
      await d.login!(user, password);
      return;
    } catch (err) {
      error = (err as Error).message;
    }
  }
}

async function findImage(d: ConsoleDeps, name: string): Promise<ImageInfo | undefined> {
  return (await d.images()).find((m) => m.name === name);
}

async function chooseImage(d: ConsoleDeps, keys: Keys): Promise<ImageInfo | 'capture' | 'shell' | 'reboot' | undefined> {
  const images = await d.images();
  let page = 0;
  for (;;) {
    const a = (await ask(d.term, keys, (input) => imageListScreen(d.host, images, page, input))).toLowerCase();
    if (a === 'c') return 'capture';
    if (a === 's') return 'shell';
    if (a === 'r') return 'reboot';
    if (a === 'n' && (page + 1) * 6 < images.length) page++;
    else if (a === 'p' && page > 0) page--;
    else if (/^\d+$/.test(a) && images[Number(a) - 1]) return images[Number(a) - 1];
  }
}

async function chooseDisk(d: ConsoleDeps, keys: Keys, purpose: string): Promise<Disk | 'back' | 'shell'> {
  const disks = await d.disks();
  for (;;) {
    const a = (await ask(d.term, keys, (input) => diskListScreen(d.host, purpose, disks, input))).toLowerCase();
    if (a === 'b') return 'back';
    if (a === 's') return 'shell';
    if (/^\d+$/.test(a) && disks[Number(a) - 1]) return disks[Number(a) - 1]!;
  }
}

async function restoreFlow(d: ConsoleDeps, keys: Keys, m: ImageInfo): Promise<ConsoleExit | undefined> {
  const preset = d.params.disk ? (await d.disks()).find((x) => x.path === d.params.disk) : undefined;
  for (;;) {
    const disk = preset ?? (await chooseDisk(d, keys, `Restore ${m.name}: which disk?`));
    if (disk === 'back') return undefined;
    if (disk === 'shell') return 'shell';
    const typed = await ask(d.term, keys, (input) => confirmScreen(d.host, m, disk, input));
    if (typed !== disk.name && typed !== disk.path) {
      if (preset) return undefined;
      continue;
    }
    const ok = await runRestore(d, m.name, disk.path);
    return finish(d, keys, ok, false);
  }
}

async function captureFlow(d: ConsoleDeps, keys: Keys): Promise<ConsoleExit | undefined> {
  const disk = await chooseDisk(d, keys, 'Capture: which disk becomes the new image?');
  if (disk === 'back') return undefined;
  if (disk === 'shell') return 'shell';
  let error: string | undefined;
  for (;;) {
    const name = await ask(d.term, keys, (input) => captureNameScreen(d.host, disk, input, error));
    if (!name) return undefined;
    if (!NAME_PATTERN.test(name)) {
      error = `${name} is not a valid name`;
      continue;
    }
    const ok = await runCapture(d, name, disk.path);
    return finish(d, keys, ok, false);
  }
}

/** Progress redrawn twice a second at most; rate and time left count from the start of each phase. */
function progressDrawer(d: ConsoleDeps, title: string): (p: Progress) => void {
  const tick = progressClock(() => d.now(), 500);
  return (p) => {
    const elapsedS = tick(p);
    if (elapsedS !== undefined) d.term.draw(progressScreen(d.host, { title, phase: p.phase, done: p.done, total: p.total, elapsedS }));
  };
}

interface Outcome {
  ok: boolean;
  title: string;
  lines: string[];
}

async function runRestore(d: ConsoleDeps, image: string, disk: string, task?: number): Promise<Outcome> {
  const title = `Restoring ${image} to ${disk}`;
  const draw = progressDrawer(d, title);
  draw({ phase: 'restore', done: 0, total: 0 });
  try {
    const r = await d.restore({ image, target: disk, task, confirm: async () => true, onProgress: draw });
    return {
      ok: true,
      title: `${image} restored to ${disk}`,
      lines: [
        `Written ${formatBytes(r.bytesWritten)} of ${formatBytes(r.bytesTotal)}; ${r.chunksSkipped} chunks were already right.`,
        r.verified ? 'Verified: the disk was read back and matches the image checksum.' : 'NOT verified (verification was switched off).',
        `Duration ${formatDuration(r.seconds)}, ${formatBytes(r.bytesTotal / Math.max(r.seconds, 0.001))}/s.`,
        ...(r.grown ? ['The last partition and its filesystem grew to fill the disk.'] : []),
        // What did not grow and why (an XFS add-on the service lacks, a FAT filesystem): the admin must know.
        ...(r.growWarning ? wrap(`! Not grown: ${r.growWarning}`) : []),
      ],
    };
  } catch (err) {
    return { ok: false, title, lines: wrap((err as Error).message) };
  }
}

async function runCapture(d: ConsoleDeps, name: string, disk: string, task?: number, role?: Role): Promise<Outcome> {
  const title = `Capturing ${disk} as ${name}`;
  const draw = progressDrawer(d, title);
  draw({ phase: 'capture', done: 0, total: 0 });
  try {
    const r = await d.capture({ source: disk, name, task, role, onProgress: draw });
    return {
      ok: true,
      title: `${disk} captured as ${name}`,
      lines: [`Read ${formatBytes(r.bytesTotal)}; sent ${formatBytes(r.bytesUploaded)} (${r.chunksUploaded} new chunks, ${r.chunksSkipped} the server had).`, `Duration ${formatDuration(r.seconds)}.`, ...r.manifest.warnings.map((w) => `! ${w}`)],
    };
  } catch (err) {
    return { ok: false, title, lines: wrap((err as Error).message) };
  }
}

/** The end screen. Interactive: Enter reboots. Unattended: reboot after a countdown, unless a key is pressed. */
async function finish(d: ConsoleDeps, keys: Keys, o: Outcome, unattendedRun: boolean): Promise<ConsoleExit> {
  if (!o.ok) {
    const a = await ask(d.term, keys, (input) => resultScreen(d.host, { ...o, prompt: `Enter: restore shell (the reason is above)   r: reboot  ${input}` }));
    return a.toLowerCase() === 'r' ? 'reboot' : 'shell';
  }
  if (unattendedRun) {
    for (let s = d.rebootDelayS ?? 5; s > 0; s--) {
      d.term.draw(resultScreen(d.host, { ...o, prompt: `Rebooting in ${s} s; press any key to stay.` }));
      if ((await keys.within(1000, d.sleep)) !== undefined) {
        const a = await ask(d.term, keys, (input) => resultScreen(d.host, { ...o, prompt: `Stayed. Enter: reboot   s: restore shell  ${input}` }));
        return a.toLowerCase() === 's' ? 'shell' : 'reboot';
      }
    }
    return 'reboot';
  }
  const a = await ask(d.term, keys, (input) => resultScreen(d.host, { ...o, prompt: `Remove the network boot or press Enter to reboot to the local disk (s: shell)  ${input}` }));
  return a.toLowerCase() === 's' ? 'shell' : 'reboot';
}

/** A task from the server: no questions, unless the machine has several disks and the task names none. */
async function unattended(d: ConsoleDeps, keys: Keys): Promise<ConsoleExit> {
  const p = d.params;
  const disks = await d.disks();
  let disk = p.disk ?? (disks.length === 1 ? disks[0]!.path : undefined);
  if (!disk) {
    const chosen = await chooseDisk(d, keys, `Task ${p.task}: ${p.mode} ${p.image ?? ''} - the task names no disk and this machine has ${disks.length}; which one?`);
    if (chosen === 'shell' || chosen === 'back') return 'shell';
    disk = chosen.path;
  }
  const image = p.image ?? '';
  const o = p.mode === 'restore' ? await runRestore(d, image, disk, p.task) : await runCapture(d, image, disk, p.task);
  return finish(d, keys, o, true);
}
