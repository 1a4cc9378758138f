/**
 * `netrestore users` at a real terminal (a pty made by util-linux `script`):
 * the password is asked twice without echo, and what was typed never shows;
 * stored as scrypt only.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-users-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run a command on a pty, typing each answer when its prompt shows. */
async function onTerminal(command: string, answers: [RegExp, string][]): Promise<{ exitCode: number | undefined; output: string }> {
  const p = execa('script', ['-qec', command, '/dev/null'], { reject: false, stdin: 'pipe' });
  let output = '';
  let next = 0;
  p.stdout!.on('data', (d: Buffer) => {
    output += d.toString('utf8');
    while (next < answers.length && answers[next]![0].test(output)) {
      p.stdin!.write(answers[next]![1]);
      next++;
    }
  });
  const r = await p;
  return { exitCode: r.exitCode, output };
}

describe('netrestore users at a terminal', () => {
  it('asks the password twice without echo, and refuses two that differ', async () => {
    const state = join(dir, 'state.db');
    const ok = await onTerminal(`${BIN} users add alice --role operator --state ${state}`, [
      [/Password for alice: /, 'typed-secret-1\r'],
      [/The same again: /, 'typed-secret-1\r'],
    ]);
    expect(ok.exitCode, ok.output).toBe(0);
    expect(ok.output).toContain('account alice added (operator)');
    expect(ok.output).not.toContain('typed-secret-1');
    const differ = await onTerminal(`${BIN} users passwd alice --state ${state}`, [
      // Both typed ahead at the first question: the second is kept for the second, unechoed.
      [/Password for alice: /, 'typed-secret-2\rtyped-secret-3\r'],
    ]);
    expect(differ.output).not.toMatch(/typed-secret/);
    expect(differ.exitCode).toBe(2);
    expect(differ.output).toContain('the two passwords differ: nothing changed');
    const db = new DatabaseSync(state);
    const row = db.prepare('SELECT password FROM users WHERE name = ?').get('alice') as { password: string };
    db.close();
    expect(row.password).toMatch(/^scrypt\$32768\$8\$3\$/);
    const list = await execa(BIN, ['users', 'list', '--json', '--state', state]);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'alice', role: 'operator' })]);
    expect(list.stdout).not.toContain('scrypt');
  }, 120_000);
});
