/**
 * Run the real `bin/netrestore serve` (inside a namespace when given) and read
 * its JSON log lines (stdout) as events.
 */
import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import type { LogEvent } from '../log.ts';

export const BIN = join(import.meta.dirname, '../../bin/netrestore');

export interface Served {
  events: LogEvent[];
  proc: ResultPromise;
  /** Output lines that were not JSON events (start-up errors). */
  text(): string;
  waitFor(event: string, match?: (e: LogEvent) => boolean, timeoutMs?: number): Promise<LogEvent>;
  stop(): Promise<void>;
}

export async function startServe(args: string[], opts: { ns?: string } = {}): Promise<Served> {
  const cmd = opts.ns ? ['ip', ['netns', 'exec', opts.ns, BIN, 'serve', ...args]] : [BIN, ['serve', ...args]];
  const proc = execa(cmd[0] as string, cmd[1] as string[], { reject: false, stdio: ['ignore', 'pipe', 'pipe'], buffer: false });
  const events: LogEvent[] = [];
  const waiters: (() => void)[] = [];
  let stderrText = '';
  const bufs = { out: '', err: '' };
  // The log is on stdout (JSON lines), a start-up failure on stderr: both are read as lines.
  const lines = (which: 'out' | 'err') => (chunk: Buffer) => {
    bufs[which] += chunk.toString();
    let nl;
    while ((nl = bufs[which].indexOf('\n')) >= 0) {
      const line = bufs[which].slice(0, nl);
      bufs[which] = bufs[which].slice(nl + 1);
      try {
        events.push(JSON.parse(line) as LogEvent);
      } catch {
        stderrText += line + '\n';
      }
      for (const w of waiters.splice(0)) w();
    }
  };
  proc.stdout!.on('data', lines('out'));
  proc.stderr!.on('data', lines('err'));
  let exited = false;
  void proc.then(() => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (event: string, match: (e: LogEvent) => boolean = () => true, timeoutMs = 20_000) =>
    new Promise<LogEvent>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms; last log lines: ${JSON.stringify(events.slice(-10))} ${stderrText}`)), timeoutMs);
      const check = () => {
        const found = events.find((e) => e.event === event && match(e));
        if (found) {
          clearTimeout(deadline);
          resolve(found);
        } else if (exited) {
          clearTimeout(deadline);
          reject(new Error(`serve exited before ${event}: ${stderrText} ${JSON.stringify(events.slice(-10))}`));
        } else waiters.push(check);
      };
      check();
    });
  const served: Served = {
    events,
    proc,
    text: () => stderrText + bufs.out + bufs.err,
    waitFor,
    stop: async () => {
      if (!exited) proc.kill('SIGTERM');
      await proc;
    },
  };
  return served;
}
