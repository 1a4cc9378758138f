/** The error catalogue: the ErrorCode union, the CATALOGUE table and README's "Error codes" table say the same. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOGUE, isNetrestoreError, NetrestoreError, USAGE_CODES } from '../../src/shared/errors.ts';
import { describeFailure, reportFailure } from '../../src/shared/cli-report.ts';

const ROOT = join(import.meta.dirname, '../..');

/** The members of `export type ErrorCode = | 'A' | 'B' …;` as written in the source. */
function unionCodes(): string[] {
  const src = readFileSync(join(ROOT, 'src/shared/errors.ts'), 'utf8');
  const body = /export type ErrorCode =([^;]*);/.exec(src)?.[1];
  if (!body) throw new Error('no ErrorCode union in src/shared/errors.ts');
  return [...body.matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1]!);
}

/** Rows of the table under README's "### Error codes": [code, when, what to do]. */
function readmeRows(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('\n### Error codes\n');
  if (at < 0) throw new Error('README.md has no "### Error codes" section');
  const section = readme.slice(at + 1).split(/\n#{2,3} /)[0]!;
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()));
}

describe('the error catalogue', () => {
  it('has one row for every code of the ErrorCode union, and no other', () => {
    const codes = unionCodes();
    expect(codes.length).toBeGreaterThan(20);
    expect(new Set(codes).size).toBe(codes.length);
    expect(Object.keys(CATALOGUE).sort()).toEqual([...codes].sort());
  });

  it('says for every code when it happens and what to do', () => {
    for (const [code, e] of Object.entries(CATALOGUE)) {
      expect(e.when.length, code).toBeGreaterThan(10);
      expect(e.fix.length, code).toBeGreaterThan(5);
      expect(`${e.when}${e.fix}`, code).not.toMatch(/[|\n]/); // one README table cell each
    }
  });

  it("is README's table of error codes, row for row", () => {
    const rows = readmeRows();
    expect(rows.map((r) => r[0]!.replaceAll('`', '')).sort()).toEqual(unionCodes().sort());
    for (const [code, when, fix] of rows) {
      const e = CATALOGUE[code!.replaceAll('`', '') as keyof typeof CATALOGUE];
      expect({ when, fix }, code).toEqual({ when: e.when, fix: e.fix });
    }
  });

  it('names the usage codes in README as the exit-2 ones', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const sentence = /exit status 2 for a usage error \(([^)]*)\)/.exec(readme.replace(/\n/g, ' '))?.[1] ?? '';
    expect([...sentence.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]).sort()).toEqual([...USAGE_CODES].sort());
  });
});

describe('matching errors', () => {
  it('matches by code, and by the registered brand across copies of the module', () => {
    const err = new NetrestoreError('IMAGE_EXISTS', 'an image named x exists already');
    expect(isNetrestoreError(err)).toBe(true);
    expect(isNetrestoreError(err, 'IMAGE_EXISTS')).toBe(true);
    expect(isNetrestoreError(err, 'IMAGE_NOT_FOUND')).toBe(false);
    expect(isNetrestoreError(new Error('plain'))).toBe(false);
    // What a second copy of errors.ts (another bundle) would make: a plain object with the same brand.
    const foreign = Object.assign(new Error('from another copy'), { code: 'IMAGE_EXISTS', [Symbol.for('netrestore.error')]: true });
    expect(isNetrestoreError(foreign, 'IMAGE_EXISTS')).toBe(true);
    expect(foreign instanceof NetrestoreError).toBe(true);
    expect(new Error('x') instanceof NetrestoreError).toBe(false);
  });
});

describe('what the command line prints', () => {
  it('gives usage codes exit 2, failures 1, and anything else INTERNAL on one line', () => {
    expect(describeFailure(new NetrestoreError('USAGE', 'unknown option'))).toEqual({ code: 'USAGE', error: 'unknown option', exitCode: 2 });
    expect(describeFailure(new NetrestoreError('IMAGE_NAME', 'bad name')).exitCode).toBe(2);
    expect(describeFailure(new NetrestoreError('SOURCE_NOT_FOUND', '/x does not exist')).exitCode).toBe(1);
    expect(describeFailure(new TypeError('boom\n  more'))).toEqual({ code: 'INTERNAL', error: 'boom more (run with --debug for details)', exitCode: 1 });
  });

  it('prints one line, the JSON object under --json, the stack only under --debug', () => {
    const run = (json: boolean, debug: boolean) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = reportFailure(new NetrestoreError('IMAGE_NOT_FOUND', 'no image named x'), { json, debug, stdout: (s) => out.push(s), stderr: (s) => err.push(s), extra: { image: 'x' } });
      return { code, out: out.join(''), err: err.join('') };
    };
    const plain = run(false, false);
    expect(plain).toEqual({ code: 1, out: '', err: 'netrestore: no image named x\n' });
    const json = run(true, false);
    expect(JSON.parse(json.out)).toEqual({ ok: false, code: 'IMAGE_NOT_FOUND', error: 'no image named x', image: 'x' });
    expect(json.err).toBe('netrestore: no image named x\n');
    expect(run(false, true).err).toMatch(/^netrestore: no image named x\nNetrestoreError: no image named x\n {4}at /);
  });
});
