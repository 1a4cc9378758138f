/**
 * How both command lines (the server's `netrestore` and the agent's) tell a
 * user that something went wrong: one line on stderr that says what to do, a
 * JSON object on stdout under --json, exit 2 for a usage error and 1 for a
 * failure. The stack only with --debug. Commander's own errors become USAGE.
 */
import type { Command, CommanderError } from 'commander';
import { isNetrestoreError, NetrestoreError, USAGE_CODES, type ErrorCode } from './errors.ts';

export interface Failure {
  code: ErrorCode;
  /** One line, for a human. */
  error: string;
  exitCode: 1 | 2;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** What a user is told about `err`. */
export function describeFailure(err: unknown): Failure {
  if (isNetrestoreError(err)) return { code: err.code, error: oneLine(err.message), exitCode: USAGE_CODES.has(err.code) ? 2 : 1 };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', error: `${oneLine(message) || 'unexpected error'} (run with --debug for details)`, exitCode: 1 };
}

/** The JSON object a --json run prints on failure (callers may add fields). */
export const failureJson = (f: Failure): { ok: false; code: ErrorCode; error: string } => ({ ok: false, code: f.code, error: f.error });

export interface ReportOptions {
  json: boolean;
  debug: boolean;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  /** More fields for the JSON object (image, seconds …). */
  extra?: Record<string, unknown>;
}

/** Print the failure (one line; JSON too under --json; the stack under --debug) and return the exit status. */
export function reportFailure(err: unknown, o: ReportOptions): 1 | 2 {
  const f = describeFailure(err);
  const stdout = o.stdout ?? ((s) => process.stdout.write(s));
  const stderr = o.stderr ?? ((s) => process.stderr.write(s));
  if (o.json) stdout(JSON.stringify({ ...failureJson(f), ...o.extra }) + '\n');
  stderr(`netrestore: ${f.error}\n`);
  if (o.debug) stderr(`${debugDetail(err)}\n`);
  return f.exitCode;
}

function debugDetail(err: unknown): string {
  const e = err as { stack?: string; cause?: unknown };
  let s = e?.stack ?? String(err);
  if (e?.cause) s += `\ncaused by: ${(e.cause as { stack?: string }).stack ?? String(e.cause)}`;
  return s;
}

/** `netrestore images list`: the words a user types for this command. */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/** Every command of the program, depth first, the program itself included. */
export function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap((s) => allCommands(s))];
}

/** Did the user ask this command for JSON? */
export function wantsJson(c: Command | undefined, argv: readonly string[]): boolean {
  if (!c || !c.options.some((o) => o.long === '--json')) return false;
  return c.opts().json === true || argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).includes('--json');
}

/**
 * Make commander throw instead of printing and exiting: its errors become
 * USAGE errors that name the command's --help. Returns the command that last
 * ran or failed to parse, to know whether it takes --json.
 */
export function guardCommands(program: Command): { command: Command | undefined } {
  const seen: { command: Command | undefined } = { command: undefined };
  program.hook('preAction', (_root, action) => {
    seen.command = action;
  });
  for (const c of allCommands(program)) {
    c.configureOutput({ ...c.configureOutput(), outputError: () => {} });
    c.exitOverride((e: CommanderError) => {
      if (e.exitCode === 0 || e.code === 'commander.help' || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') throw e;
      seen.command = c;
      const what = oneLine(e.message.replace(/^error: /, '')).replace(/\.$/, '');
      throw new NetrestoreError('USAGE', `${what}; see \`${commandPath(c)} --help\``, { cause: e });
    });
  }
  return seen;
}

/** Commander's help and --version: not failures, they carry their own exit status. */
export function isCommanderExit(err: unknown): err is CommanderError {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('commander.');
}
