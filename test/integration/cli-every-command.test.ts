/**
 * Every subcommand, of the server's command line and of the agent's, given bad
 * input and made to fail: one line on stderr, no stack, exit 2 for a usage
 * error and 1 for a failure, and under --json an object with ok:false, code and
 * error. The subcommands come from the programs themselves, so a new one
 * without cases here fails the first test.
 */
import type { Command } from 'commander';
import { execa } from 'execa';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { program } from '../../src/cli.ts';
import { BIN } from '../../src/drill/service.ts';
import { allCommands, commandPath } from '../../src/shared/cli-report.ts';

const ROOT = join(import.meta.dirname, '../..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const AGENT = join(ROOT, 'src/restore-agent/main.ts');

const dir = mkdtempSync(join(tmpdir(), 'nr-cli-every-'));
const store = join(dir, 'images');
const state = join(dir, 'state.db');
const disk = join(dir, 'disk.raw');
writeFileSync(disk, Buffer.alloc(1024 * 1024));

// A server that refuses every token: restore and capture fail at once, without the 2-minute retry of an absent one.
let server: http.Server;
let url = '';
beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad token' })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Case {
  args: () => string[];
  exit: 1 | 2;
  /** The code the --json object must carry; the case is run with --json when given and the command has it. */
  code?: string;
  /** What the one line must say. */
  line?: RegExp;
}

const usage = (args: () => string[], line?: RegExp): Case => ({ args, exit: 2, code: 'USAGE', ...(line ? { line } : {}) });
const fails = (code: string, args: () => string[], line?: RegExp): Case => ({ args, exit: 1, code, ...(line ? { line } : {}) });

/** The server's command line: `netrestore <path> …`. */
const SERVER: Record<string, Case[]> = {
  serve: [
    usage(() => ['--dhcp', 'sometimes'], /argument 'sometimes' is invalid.*see `netrestore serve --help`/),
    { args: () => ['--tftp-port', 'sixty-nine', '--dhcp', 'off', '--http-port', 'off', '--state', state], exit: 2, code: 'CONFIG_INVALID', line: /tftpPort \(--tftp-port\)/ },
    fails('CONFIG_FILE', () => ['--config', join(dir, 'missing.json')], /cannot read the configuration file/),
  ],
  publish: [
    usage(() => [disk, '--images', store], /required option '--name <name>' not specified/),
    usage(() => [disk, '--name', 'x', '--chunk-size', 'big', '--images', store], /--chunk-size.*'big' is invalid/),
    { args: () => [disk, '--name', 'a b', '--images', store], exit: 2, code: 'IMAGE_NAME', line: /image name "a b" is not allowed/ },
    fails('SOURCE_NOT_FOUND', () => [join(dir, 'missing.raw'), '--name', 'x', '--images', store], /missing\.raw does not exist/),
  ],
  doctor: [usage(() => ['--dhcp', 'sometimes'], /argument 'sometimes' is invalid/), fails('CONFIG_FILE', () => ['--config', join(dir, 'missing.json')], /cannot read the configuration file/)],
  'images list': [usage(() => ['--images']), fails('STORE_UNUSABLE', () => ['--images', disk], /cannot use .* as the image store/)],
  'images show': [usage(() => ['--images', store]), fails('IMAGE_NOT_FOUND', () => ['nope', '--images', store], /no image named nope/)],
  'images verify': [usage(() => ['nope', 'extra', '--images', store]), fails('IMAGE_NOT_FOUND', () => ['nope', '--images', store])],
  'images rm': [usage(() => ['--images', store]), fails('IMAGE_NOT_FOUND', () => ['nope', '--images', store])],
  'images gc': [usage(() => ['--frobnicate', '--images', store], /unknown option '--frobnicate'/), fails('STORE_UNUSABLE', () => ['--images', disk])],
  'images export': [usage(() => ['--images', store]), fails('IMAGE_NOT_FOUND', () => ['nope', '--images', store])],
  'images import': [usage(() => ['surplus', '--images', store]), fails('ARCHIVE_INVALID', () => ['--images', store], /not a netrestore export/)],
  restore: [
    usage(() => ['--server', url, '--image', 'x', '--target', join(dir, 't.raw'), '--parallel', 'many'], /--parallel.*'many' is invalid/),
    usage(() => ['--server', url, '--target', join(dir, 't.raw')], /'--image <name>' not specified/),
    fails('TOKEN_REFUSED', () => ['--server', url, '--token', 'wrong', '--image', 'x', '--target', join(dir, 't.raw')], /the server refused the token/),
  ],
  capture: [
    usage(() => ['--server', url, '--source', disk], /'--name <name>' not specified/),
    fails('SOURCE_NOT_FOUND', () => ['--server', url, '--source', join(dir, 'missing.raw'), '--name', 'x']),
  ],
  'hosts list': [usage(() => ['--state']), fails('STATE_DB', () => ['--state', dir], /cannot open the state database/)],
  'hosts add': [usage(() => ['not-a-mac', '--state', state], /not-a-mac is not a MAC address/), fails('STATE_DB', () => ['52:54:00:12:34:56', '--state', dir])],
  'hosts task': [usage(() => ['52:54:00:12:34:56', 'reboot', 'x', '--state', state], /value 'reboot' is invalid for argument 'kind'/), fails('STATE_DB', () => ['52:54:00:12:34:56', 'restore', 'x', '--state', dir])],
  'hosts cancel': [usage(() => ['--state', state]), fails('STATE_DB', () => ['52:54:00:12:34:56', '--state', dir])],
  'hosts rm': [usage(() => ['not-a-mac', '--state', state], /not-a-mac is not a MAC address/), fails('STATE_DB', () => ['52:54:00:12:34:56', '--state', dir])],
  audit: [usage(() => ['--since', 'last tuesday', '--state', state], /--since: last tuesday is neither a duration/), fails('STATE_DB', () => ['--state', dir])],
  'hosts history': [usage(() => ['--bogus', '--state', state]), fails('STATE_DB', () => ['--state', dir])],
  'users add': [
    usage(() => ['alice', '--role', 'root', '--state', state], /argument 'root' is invalid/),
    usage(() => ['alice', 'hunter2-hunter2', '--role', 'admin', '--state', state], /too many arguments/),
    usage(() => ['alice', '--role', 'admin', '--state', state], /no terminal to ask the password of alice on: pipe it in with --password-stdin/),
    usage(() => ['alice', '--role', 'admin', '--password-stdin', '--state', state], /a password needs at least 8 characters: nothing changed/),
    usage(() => ['no:colon', '--role', 'admin', '--password-stdin', '--state', state], /no:colon is not an account name/),
    fails('STATE_DB', () => ['alice', '--role', 'admin', '--password-stdin', '--state', dir]),
  ],
  'users list': [usage(() => ['--bogus', '--state', state]), fails('STATE_DB', () => ['--state', dir])],
  'users rm': [usage(() => ['nobody', '--state', state], /no account named nobody/), fails('STATE_DB', () => ['nobody', '--state', dir])],
  'users passwd': [usage(() => ['nobody', '--password-stdin', '--state', state], /no account named nobody/), fails('STATE_DB', () => ['nobody', '--password-stdin', '--state', dir])],
  'users role': [usage(() => ['nobody', 'root', '--state', state], /value 'root' is invalid for argument 'role'/), fails('STATE_DB', () => ['nobody', 'admin', '--state', dir])],
  'build-env': [usage(() => ['--level', 'max', '--out', join(dir, 'env')], /--level.*'max' is invalid/), fails('BUILD_ENV', () => ['--kernel', '9.9.9-none', '--out', join(dir, 'env')], /kernel 9\.9\.9-none is missing/)],
  install: [usage(() => ['--root'], /argument missing/), fails('INSTALL', () => ['--root', disk], /cannot install under .*disk\.raw/)],
  backup: [
    usage(() => ['--state', state], /missing required argument 'file'/),
    fails('BACKUP', () => [join(dir, 'b.tar'), '--state', join(dir, 'none.db')], /there is no state database/),
    fails('BACKUP', () => [disk, '--restore', '--state', join(dir, 'r.db')], /not a netrestore backup/),
  ],
  drill: [usage(() => ['--image', 'x', '--firmware', 'coreboot'], /'coreboot' is invalid/), fails('DRILL', () => ['--image', 'x', '--images', store, '--boot-dir', join(dir, 'no-env')], /run `netrestore build-env` first/)],
};

/** The agent's own commands (src/restore-agent/main.ts); restore and capture are the server's above. */
const AGENT_ONLY: Record<string, Case[]> = {
  boot: [{ args: () => [], exit: 2, code: 'CMDLINE_INVALID', line: /no netrestore\.server=/ }, usage(() => ['now'])],
  console: [usage(() => [], /'--server <url>' not specified/)],
  disks: [usage(() => ['--all'], /unknown option '--all'/)],
};

const leaves = (c: Command) => allCommands(c).filter((x) => x.commands.length === 0 && x.parent);
const path = (c: Command) => commandPath(c).split(' ').slice(1).join(' ');
const hasJson = (c: Command | undefined) => !!c?.options.some((o) => o.long === '--json');

/** The agent's program is built when its module runs: its subcommands from its help. */
async function agentCommands(): Promise<string[]> {
  const r = await execa(NODE, [AGENT, '--help']);
  const list = r.stdout.split('Commands:')[1] ?? '';
  return [...list.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
}

function check(r: { exitCode?: number; stdout: string; stderr: string }, c: Case, json: boolean): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const what = `stderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  expect(r.stderr, what).not.toMatch(/^ {4}at /m);
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(/^netrestore: \S/);
  if (c.line) expect(lines[0], what).toMatch(c.line);
  expect(r.exitCode, what).toBe(c.exit);
  if (json) {
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: unknown; code: unknown; error: unknown };
    expect(o.ok).toBe(false);
    expect(o.code).toBe(c.code);
    expect(typeof o.error).toBe('string');
    expect(lines[0]).toBe(`netrestore: ${o.error as string}`);
  }
}

describe('every subcommand says in one line what went wrong', () => {
  const cli = program();
  const byPath = new Map(leaves(cli).map((c) => [path(c), c]));

  it('has cases for every subcommand there is, and for none that is not', { timeout: 60_000 }, async () => {
    expect([...byPath.keys()].sort()).toEqual(Object.keys(SERVER).sort());
    expect((await agentCommands()).filter((n) => !byPath.has(n)).sort()).toEqual(Object.keys(AGENT_ONLY).sort());
    for (const cases of [...Object.values(SERVER), ...Object.values(AGENT_ONLY)]) {
      expect(cases.some((c) => c.exit === 2)).toBe(true);
    }
    for (const [p, cases] of Object.entries(SERVER)) expect(cases.some((c) => c.exit === 1), p).toBe(true);
  });

  for (const [p, cases] of Object.entries(SERVER)) {
    for (const c of cases) {
      it(`netrestore ${p} (exit ${c.exit}${c.code ? `, ${c.code}` : ''})`, async () => {
        const input = p === 'images import' ? 'garbage\n' : '';
        check(await execa(BIN, [...p.split(' '), ...c.args()], { reject: false, cwd: dir, input, timeout: 60_000 }), c, false);
        // --json first: after a case's last option it would be taken as that option's missing value.
        if (hasJson(byPath.get(p)) && c.code) check(await execa(BIN, [...p.split(' '), '--json', ...c.args()], { reject: false, cwd: dir, input, timeout: 60_000 }), c, true);
      }, 120_000);
    }
  }

  for (const [p, cases] of Object.entries(AGENT_ONLY)) {
    for (const c of cases) {
      it(`the agent's netrestore ${p} (exit ${c.exit})`, async () => {
        check(await execa(NODE, [AGENT, p, ...c.args()], { reject: false, cwd: dir, input: '', timeout: 60_000 }), c, false);
      }, 120_000);
    }
  }

  it("the agent's restore says the same as the server's", async () => {
    const c = SERVER.restore!.at(-1)!;
    check(await execa(NODE, [AGENT, 'restore', '--json', ...c.args()], { reject: false, cwd: dir, input: '', timeout: 60_000 }), c, true);
  }, 120_000);

  it('shows the stack with --debug or NETRESTORE_DEBUG=1, and nowhere else', async () => {
    const args = ['images', 'show', 'nope', '--images', store];
    for (const r of [await execa(BIN, [...args, '--debug'], { reject: false, cwd: dir }), await execa(BIN, args, { reject: false, cwd: dir, env: { NETRESTORE_DEBUG: '1' } })]) {
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^netrestore: no image named nope.*\n[\s\S]* {4}at /);
    }
  }, 120_000);

  it('shows the help and exits 2 when a command needs a subcommand and got none', async () => {
    for (const group of allCommands(cli).filter((c) => c.commands.length > 0)) {
      const r = await execa(BIN, path(group) ? path(group).split(' ') : [], { reject: false, cwd: dir });
      expect(r.exitCode, path(group)).toBe(2);
      expect(r.stderr).toMatch(/^Usage: netrestore/);
      expect(r.stderr).not.toMatch(/^ {4}at /m);
    }
  }, 120_000);

  it('prints its version', async () => {
    const pkg = JSON.parse((await import('node:fs')).readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await execa(BIN, ['--version']);
    expect(r.stdout.trim()).toBe(pkg.version);
  }, 60_000);
});
