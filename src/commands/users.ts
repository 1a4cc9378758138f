/**
 * `netrestore users …`: local accounts on the database that serve uses
 * (--state). Roles (auth/roles.ts): viewer reads, operator also restores,
 * captures and makes tasks, admin does everything. Passwords are hashed with
 * scrypt (auth/password.ts) and never taken as an argument.
 */
import type { Command } from 'commander';
import { Argument, Option } from 'commander';
import { hashPassword, passwordProblem } from '../auth/password.ts';
import { ROLES, type Role } from '../auth/roles.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { openState } from '../state/db.ts';
import { openStores, type State } from '../state/stores.ts';
import { USER_NAME } from '../state/users.ts';
import { cliActor } from './audit.ts';
import { readNewPassword } from './read-secret.ts';

const stateOption = () => new Option('--state <file>', 'state database (the one serve uses)').default('netrestore.db');
const stdinOption = () => new Option('--password-stdin', 'read the password from stdin (one line) instead of asking at the terminal');
const roleArgument = () => new Argument('<role>', 'viewer, operator or admin').choices(ROLES);
const out = (s: string): void => {
  process.stdout.write(s + '\n');
};
const when = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

async function withState<T>(file: string, f: (s: State) => T | Promise<T>): Promise<T> {
  const db = openState(file);
  try {
    return await f(openStores(db));
  } finally {
    db.close();
  }
}

function checkName(name: string): string {
  if (!USER_NAME.test(name)) throw new NetrestoreError('USAGE', `${name} is not an account name: letters, digits, . _ - (not first), at most 64`);
  return name;
}

async function newHash(o: { passwordStdin?: boolean }, name: string): Promise<string> {
  const password = await readNewPassword(o, name);
  const problem = passwordProblem(password);
  if (problem) throw new NetrestoreError('USAGE', `${problem}: nothing changed`);
  return hashPassword(password);
}

export function registerUserCommands(cli: Command): void {
  const users = cli.command('users').description('local accounts for the boot menu, the admin API and the web console: viewer, operator or admin');

  users
    .command('add')
    .description('add an account; its password is asked at the terminal (or read with --password-stdin)')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'viewer (reads), operator (also restores, captures, makes tasks) or admin (everything)').choices(ROLES).makeOptionMandatory())
    .addOption(stdinOption())
    .addOption(stateOption())
    .action(async (name: string, o: { role: Role; passwordStdin?: boolean; state: string }) => {
      checkName(name);
      await withState(o.state, async (s) => {
        if (s.users.get(name)) throw new NetrestoreError('USAGE', `there is an account named ${name} already; change it with \`netrestore users passwd\` or \`users role\``);
      });
      const hash = await newHash(o, name);
      await withState(o.state, (s) => {
        const first = s.users.count() === 0;
        if (!s.users.add(name, o.role, hash)) throw new NetrestoreError('USAGE', `there is an account named ${name} already`);
        s.audit.record({ actor: cliActor(), action: 'user-add', detail: `${name} (${o.role})` });
        out(`account ${name} added (${o.role})`);
        if (first) out('the boot menu now takes accounts only: the menu password (or admin token) no longer logs in there');
      });
    });

  users
    .command('list')
    .description('the accounts and their roles')
    .option('--json', 'as JSON')
    .addOption(stateOption())
    .action((o: { json?: boolean; state: string }) =>
      withState(o.state, (s) => {
        const list = s.users.list();
        if (o.json) return out(JSON.stringify(list));
        if (list.length === 0) return out('no accounts yet: the boot menu takes the menu password or the admin token; add one with `netrestore users add NAME --role admin`');
        out(`${'NAME'.padEnd(20)} ${'ROLE'.padEnd(9)} ${'CREATED'.padEnd(19)}  CHANGED`);
        for (const u of list) out(`${u.name.padEnd(20)} ${u.role.padEnd(9)} ${when(u.created)}  ${when(u.updated)}`);
      }),
    );

  users
    .command('rm')
    .description('remove an account')
    .argument('<name>')
    .addOption(stateOption())
    .action((name: string, o: { state: string }) =>
      withState(o.state, (s) => {
        if (!s.users.remove(name)) throw new NetrestoreError('USAGE', `no account named ${name}; see \`netrestore users list\``);
        s.audit.record({ actor: cliActor(), action: 'user-remove', detail: name });
        out(`account ${name} removed${s.users.count() === 0 ? '; there are no accounts left: the boot menu takes the menu password (or the admin token) again' : ''}`);
      }),
    );

  users
    .command('passwd')
    .description("change an account's password (asked at the terminal, or read with --password-stdin)")
    .argument('<name>')
    .addOption(stdinOption())
    .addOption(stateOption())
    .action(async (name: string, o: { passwordStdin?: boolean; state: string }) => {
      await withState(o.state, (s) => {
        if (!s.users.get(name)) throw new NetrestoreError('USAGE', `no account named ${name}; see \`netrestore users list\``);
      });
      const hash = await newHash(o, name);
      await withState(o.state, (s) => {
        if (!s.users.setPassword(name, hash)) throw new NetrestoreError('USAGE', `no account named ${name}`);
        s.audit.record({ actor: cliActor(), action: 'user-password', detail: name });
        out(`password of ${name} changed`);
      });
    });

  users
    .command('role')
    .description("change an account's role")
    .argument('<name>')
    .addArgument(roleArgument())
    .addOption(stateOption())
    .action((name: string, role: Role, o: { state: string }) =>
      withState(o.state, (s) => {
        if (!s.users.setRole(name, role)) throw new NetrestoreError('USAGE', `no account named ${name}; see \`netrestore users list\``);
        s.audit.record({ actor: cliActor(), action: 'user-role', detail: `${name} (${role})` });
        out(`${name} is now ${role}`);
      }),
    );
}
