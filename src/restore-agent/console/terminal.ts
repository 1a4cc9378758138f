/**
 * The screen and keyboard of the restore environment: every console the
 * kernel writes to (/proc/consoles: the monitor's tty and a serial port,
 * often both), drawn alike, keys taken from any. Only changed lines are
 * redrawn: a serial line at 115200 baud carries 11 KB/s, a full screen 2 KB.
 */
import { openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import tty from 'node:tty';

export interface Terminal {
  draw(lines: string[]): void;
  /** The next key pressed, as the bytes the terminal sent ("\r", "a", "\x7f" …). */
  key(): Promise<string>;
  close(): void;
}

/** The escape sequence that turns the screen `prev` into `next` (1-based rows, clear to end of line). */
export function redraw(prev: string[] | undefined, next: string[]): string {
  let out = prev ? '' : '\x1b[H\x1b[2J';
  next.forEach((line, i) => {
    if (prev?.[i] === line) return;
    out += `\x1b[${i + 1};1H${line}\x1b[K`;
  });
  if (prev && prev.length > next.length) for (let i = next.length; i < prev.length; i++) out += `\x1b[${i + 1};1H\x1b[K`;
  // Leave the cursor after the prompt (the last line), where typing shows.
  const last = next.length - 1;
  return out + `\x1b[${last + 1};${(next[last]?.length ?? 0) + 1}H`;
}

/** /proc/consoles → device paths. tty0 means "the visible virtual terminal": tty1 at boot. */
export function consoleDevices(procConsoles: string): string[] {
  const out: string[] = [];
  for (const line of procConsoles.split('\n')) {
    const name = line.trim().split(/\s+/)[0];
    if (!name) continue;
    const path = `/dev/${name === 'tty0' ? 'tty1' : name}`;
    if (!out.includes(path)) out.push(path);
  }
  return out;
}

interface Port {
  input: NodeJS.ReadableStream;
  write(s: string): void;
  close(): void;
}

function makeTerminal(ports: Port[]): Terminal {
  const queue: string[] = [];
  const waiters: ((k: string) => void)[] = [];
  let prev: string[] | undefined;
  for (const p of ports) {
    p.input.on('data', (d: Buffer) => {
      const s = d.toString('latin1');
      const w = waiters.shift();
      if (w) w(s);
      else queue.push(s);
    });
  }
  return {
    draw(lines) {
      const seq = redraw(prev, lines);
      prev = lines;
      for (const p of ports) p.write(seq);
    },
    key: () => {
      const k = queue.shift();
      return k !== undefined ? Promise.resolve(k) : new Promise((r) => waiters.push(r));
    },
    close() {
      for (const p of ports) p.close();
    },
  };
}

/** Every console of /proc/consoles that opens; this process's own terminal when none does. */
export async function openConsoles(): Promise<Terminal> {
  const devices = consoleDevices(await readFile('/proc/consoles', 'utf8').catch(() => ''));
  const ports: Port[] = [];
  for (const path of devices) {
    try {
      const fd = openSync(path, 'r+');
      const input = new tty.ReadStream(fd);
      input.setRawMode(true);
      const output = new tty.WriteStream(fd);
      ports.push({ input, write: (s) => output.write(s), close: () => (input.setRawMode(false), input.destroy()) });
    } catch {
      // a console that is listed but absent (no serial port wired): skip it
    }
  }
  if (!ports.length) return stdioTerminal();
  return makeTerminal(ports);
}

export function stdioTerminal(): Terminal {
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  return makeTerminal([{ input: stdin, write: (s) => process.stdout.write(s), close: () => (stdin.isTTY && stdin.setRawMode(false), stdin.pause()) }]);
}
