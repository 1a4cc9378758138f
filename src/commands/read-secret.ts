/**
 * A password for the command line, never as an argument (it would sit in the
 * shell's history and in every process listing): typed at a prompt that does
 * not echo it, or piped in with --password-stdin.
 */
import { NetrestoreError } from '../shared/errors.ts';

/** All of stdin, less one trailing newline. */
async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const d of process.stdin) parts.push(d as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Lines typed at the terminal without echo. Echo goes off before the first
 * question shows and stays off until the last answer, so an answer typed
 * ahead (or sent by a script as soon as the question shows) is never echoed;
 * what comes after one line's end is kept for the next.
 */
async function askSilently(questions: string[]): Promise<string[]> {
  const input = process.stdin;
  input.setRawMode(true);
  try {
    const answers: string[] = [];
    let pending = '';
    let wake: (() => void) | undefined;
    const onData = (d: Buffer) => {
      pending += d.toString('utf8');
      wake?.();
    };
    input.on('data', onData);
    input.resume();
    try {
      for (const question of questions) {
        process.stderr.write(question);
        let line = '';
        for (;;) {
          if (pending === '') await new Promise<void>((r) => (wake = r));
          const ch = pending[0]!;
          pending = pending.slice(1);
          if (ch === '\r' || ch === '\n') break;
          if (ch === '\u0003' || ch === '\u0004') {
            process.stderr.write('\n');
            throw new NetrestoreError('USAGE', 'no password given: stopped');
          }
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else if (ch >= ' ') line += ch;
        }
        process.stderr.write('\n');
        answers.push(line);
      }
      return answers;
    } finally {
      input.off('data', onData);
      input.pause();
    }
  } finally {
    input.setRawMode(false);
  }
}

/** The new password: from stdin, or asked twice at the terminal. */
export async function readNewPassword(o: { passwordStdin?: boolean }, what: string): Promise<string> {
  if (o.passwordStdin) return readStdin();
  if (!process.stdin.isTTY) throw new NetrestoreError('USAGE', `no terminal to ask the password of ${what} on: pipe it in with --password-stdin`);
  const [first = '', again] = await askSilently([`Password for ${what}: `, 'The same again: ']);
  if (first !== again) throw new NetrestoreError('USAGE', 'the two passwords differ: nothing changed');
  return first;
}
