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

/** One line typed at the terminal without echo. */
function prompt(question: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let line = '';
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new NetrestoreError('USAGE', 'no password given: stopped'));
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The new password: from stdin, or asked twice at the terminal. */
export async function readNewPassword(o: { passwordStdin?: boolean }, what: string): Promise<string> {
  if (o.passwordStdin) return readStdin();
  if (!process.stdin.isTTY) throw new NetrestoreError('USAGE', `no terminal to ask the password of ${what} on: pipe it in with --password-stdin`);
  const first = await prompt(`Password for ${what}: `);
  const again = await prompt('The same again: ');
  if (first !== again) throw new NetrestoreError('USAGE', 'the two passwords differ: nothing changed');
  return first;
}
