/**
 * The agent's screens, 80×25 and plain ASCII so that they read the same on
 * a Linux text console (TERM=linux) and on a serial console. Pure: data in,
 * lines out; the terminal edge draws them.
 */
import type { Manifest } from '../../shared/format.ts';
import { bar, formatBytes, formatDuration, measure, percent, phaseLabel, type Progress } from '../../shared/progress.ts';
import { diskLine, diskWarning, type Disk } from '../disks.ts';

export const COLS = 80;
export const ROWS = 25;
const BODY = ROWS - 4; // header, rule, rule, prompt

export type ImageInfo = Omit<Manifest, 'chunks'>;

const fit = (s: string, w = COLS) => (s.length > w ? s.slice(0, w - 1) + '~' : s);
const rule = '-'.repeat(COLS);

/** Header, body (cut to fit) and the prompt line last, where typing shows. */
export function frame(header: { left: string; right: string }, body: string[], prompt: string): string[] {
  const gap = Math.max(1, COLS - header.left.length - header.right.length);
  const top = fit(header.left + ' '.repeat(gap) + header.right);
  const rows = body.slice(0, BODY).map((l) => fit(l));
  while (rows.length < BODY) rows.push('');
  return [top, rule, ...rows, rule, fit(prompt)];
}

export interface Host {
  mac: string;
  ip: string;
  server: string;
  /** From the firmware (secure-boot.ts); undefined: a BIOS machine, nothing to show. */
  secureBoot?: boolean;
}

export const headerFor = (h: Host) => ({ left: ` netrestore${h.secureBoot === undefined ? '' : `  Secure Boot: ${h.secureBoot ? 'on' : 'off'}`}`, right: `${h.ip}  ${h.mac} ` });

const PER_PAGE = 6;

export function imageListScreen(h: Host, images: ImageInfo[], page: number, input: string): string[] {
  const body: string[] = [` Images on ${h.server}`, ''];
  if (!images.length) body.push('   No images are published yet: publish one with `netrestore publish`.');
  const first = page * PER_PAGE;
  images.slice(first, first + PER_PAGE).forEach((m, i) => {
    const n = String(first + i + 1).padStart(3);
    body.push(`${n}  ${m.name}  (${m.created.slice(0, 10)}, ${formatBytes(m.source.size)}${m.role !== 'generic' ? `, ${m.role}` : ''})`);
    body.push(`       ${m.description || 'no description'}`);
    for (const w of m.warnings.slice(0, 1)) body.push(`       ! ${w}`);
  });
  const pages = Math.max(1, Math.ceil(images.length / PER_PAGE));
  body.push('');
  if (pages > 1) body.push(` Page ${page + 1} of ${pages}: n next, p previous`);
  body.push(' c capture this machine   s restore shell   r reboot');
  return frame(headerFor(h), body, ` Image number: ${input}`);
}

/** The login GRUB could not ask for (the signed chain): user, then password (shown as stars). */
export function loginScreen(h: Host, p: { mode: string; image?: string | undefined }, field: 'user' | 'password', input: string, error?: string, user?: string): string[] {
  const what = p.mode === 'restore' && p.image ? `restore ${p.image}` : p.mode === 'menu' ? 'the images' : p.mode;
  const body = [` Log in for ${what} (the server's menu user and password)`, ''];
  if (error) body.push(` ! ${error}`, '');
  if (user) body.push(` User: ${user}`);
  return frame(headerFor(h), body, field === 'user' ? ` User: ${input}` : ` Password: ${input}`);
}

export function diskListScreen(h: Host, purpose: string, disks: Disk[], input: string): string[] {
  const body: string[] = [` ${purpose}`, ''];
  if (!disks.length) body.push('   No disks found: the controller may need a driver this environment lacks (s: shell, lsmod).');
  disks.forEach((d, i) => {
    body.push(`${String(i + 1).padStart(3)}  ${diskLine(d)}`);
    const w = diskWarning(d);
    body.push(w ? `       ! ${w}` : '       empty');
  });
  body.push('', ' b back   s restore shell');
  return frame(headerFor(h), body, ` Disk number: ${input}`);
}

export function confirmScreen(h: Host, m: ImageInfo, d: Disk, input: string): string[] {
  const body = [
    ` Restore ${m.name} (${formatBytes(m.source.size)}, ${m.created.slice(0, 10)})`,
    ` to      ${d.path}: ${diskLine(d).slice(9).trim()}`,
    '',
    ` EVERYTHING ON ${d.path} WILL BE OVERWRITTEN.`,
    ...(diskWarning(d) ? [` It ${diskWarning(d)}.`] : []),
    ...m.warnings.map((w) => ` ! ${w}`),
    ...(d.size < (m.minTargetBytes ?? m.source.size) ? ['', ` ${d.path} is too small: it has ${formatBytes(d.size)}, the image needs ${formatBytes(m.minTargetBytes ?? m.source.size)}.`] : []),
    '',
    ` To go on, type the disk's name (${d.name}) and press Enter; Enter alone goes back.`,
  ];
  return frame(headerFor(h), body, ` Disk name: ${input}`);
}

export function captureNameScreen(h: Host, d: Disk, input: string, error?: string): string[] {
  const body = [
    ` Capture ${d.path} (${diskLine(d).slice(9).trim()})`,
    '',
    ' The disk is read, nothing on it is changed; only chunks the server lacks are sent.',
    ' Name: letters, digits, dot, dash, underscore; Enter alone goes back.',
    ...(error ? ['', ` ! ${error}`] : []),
  ];
  return frame(headerFor(h), body, ` Image name: ${input}`);
}

export interface ProgressView extends Progress {
  title: string;
  /** Seconds since the phase began. */
  elapsedS: number;
}

export function progressScreen(h: Host, p: ProgressView): string[] {
  const { frac, rate, etaS } = measure(p, p.elapsedS);
  const body = [
    ` ${p.title}`,
    '',
    ` Phase     ${phaseLabel(p.phase)}`,
    '',
    ` ${bar(frac, COLS - 10)} ${percent(frac)}`,
    '',
    ` Done      ${formatBytes(p.done)} of ${formatBytes(p.total)}`,
    ` Rate      ${formatBytes(rate)}/s`,
    ` Elapsed   ${formatDuration(p.elapsedS)}`,
    ` Left      ${formatDuration(etaS)}`,
  ];
  return frame(headerFor(h), body, ' Working: do not switch this machine off.');
}

export function resultScreen(h: Host, o: { ok: boolean; title: string; lines: string[]; prompt: string }): string[] {
  const body = [` ${o.ok ? 'DONE' : 'FAILED'}: ${o.title}`, '', ...o.lines.map((l) => ` ${l}`)];
  return frame(headerFor(h), body, ` ${o.prompt}`);
}

/** Long messages wrapped to the screen width. */
export function wrap(text: string, width = COLS - 2): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}
