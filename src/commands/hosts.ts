/** `netrestore hosts …`: hosts, one-shot tasks and history, on the database that serve uses (--state). */
import type { Command } from 'commander';
import { Argument, Option } from 'commander';
import { NetrestoreError } from '../shared/errors.ts';
import { openState } from '../state/db.ts';
import { HostStore, normalizeMac } from '../state/hosts.ts';
import { TaskStore, type TaskKind } from '../state/tasks.ts';

const stateOption = () => new Option('--state <file>', 'state database (the one serve uses)').default('netrestore.db');
const out = (s: string): void => {
  process.stdout.write(s + '\n');
};
const when = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().slice(0, 19).replace('T', ' ') : '-');

function mac(v: string): string {
  try {
    return normalizeMac(v);
  } catch {
    throw new NetrestoreError('USAGE', `${v} is not a MAC address (like 52:54:00:12:34:56)`);
  }
}

function withDb<T>(file: string, f: (hosts: HostStore, tasks: TaskStore) => T): T {
  const db = openState(file);
  try {
    return f(new HostStore(db), new TaskStore(db));
  } finally {
    db.close();
  }
}

export function registerHostCommands(cli: Command): void {
  const hosts = cli.command('hosts').description('hosts, one-shot restore and capture tasks, and history');

  hosts
    .command('list')
    .description('known hosts with their current task')
    .addOption(stateOption())
    .option('--json', 'as JSON')
    .action((o: { state: string; json?: boolean }) =>
      withDb(o.state, (h, t) => {
        const list = h.list().map((x) => ({ ...x, task: t.latest(x.mac) ?? null }));
        if (o.json) return out(JSON.stringify(list));
        if (list.length === 0) return out('no hosts yet: they appear when they boot, or add one with `netrestore hosts add MAC --name NAME`');
        out(`${'MAC'.padEnd(18)} ${'NAME'.padEnd(16)} ${'LAST SEEN'.padEnd(20)} TASK`);
        for (const x of list) out(`${x.mac.padEnd(18)} ${(x.name ?? '').padEnd(16)} ${when(x.lastSeen).padEnd(20)} ${x.ignore ? 'ignored ' : ''}${x.task && x.task.state !== 'cancelled' ? `${x.task.kind} ${x.task.image} (${x.task.state}${x.task.error ? `: ${x.task.error}` : ''})` : ''}`);
      }),
    );

  hosts
    .command('add')
    .description('add or change a host')
    .argument('<mac>')
    .option('--name <name>', 'a name for it')
    .option('--notes <text>', 'notes for the admins')
    .option('--ignore', 'never answer its PXE requests')
    .option('--no-ignore', 'answer its PXE requests again')
    .option('--menu-timeout <seconds>', "this host's menu timeout (overrides serve --menu-timeout)", (v) => Number(v))
    .addOption(stateOption())
    .action((m: string, o: { name?: string; notes?: string; ignore?: boolean; menuTimeout?: number; state: string }) =>
      withDb(o.state, (h, t) => {
        if (o.menuTimeout !== undefined && !(Number.isInteger(o.menuTimeout) && o.menuTimeout >= 1 && o.menuTimeout <= 3600)) {
          throw new NetrestoreError('USAGE', '--menu-timeout takes whole seconds from 1 to 3600');
        }
        h.upsert({ mac: mac(m), name: o.name ?? null, notes: o.notes ?? null, ignore: o.ignore, menuTimeout: o.menuTimeout ?? null });
        t.audit('cli', 'host-add', `${mac(m)} ${o.name ?? ''}${o.ignore ? ' ignore' : ''}`);
        out(`host ${mac(m)} saved`);
      }),
    );

  hosts
    .command('task')
    .description('boot a host once into a restore or a capture, without menu or login')
    .argument('<mac>')
    .addArgument(new Argument('<kind>', 'restore or capture').choices(['restore', 'capture']))
    .argument('<image>', 'image to restore, or name of the new image')
    .option('--disk <device>', 'the disk to restore to or capture (default: ask on the console when there are several)')
    .addOption(stateOption())
    .action((m: string, kind: TaskKind, image: string, o: { disk?: string; state: string }) =>
      withDb(o.state, (h, t) => {
        if (!h.get(mac(m))) h.upsert({ mac: mac(m) });
        const task = t.create(mac(m), kind, image, o.disk ?? null);
        t.audit('cli', 'task-create', `${task.id} ${kind} ${image} for ${task.mac}`);
        out(`task ${task.id}: ${kind} ${image} for ${task.mac} at its next network boot`);
      }),
    );

  hosts
    .command('cancel')
    .description("cancel a host's pending or started task")
    .argument('<mac>')
    .addOption(stateOption())
    .action((m: string, o: { state: string }) =>
      withDb(o.state, (_h, t) => {
        const n = t.cancel(mac(m));
        t.audit('cli', 'task-cancel', mac(m));
        out(n ? `cancelled the task of ${mac(m)}` : `${mac(m)} has no task to cancel`);
      }),
    );

  hosts
    .command('history')
    .description('restores and captures, newest first')
    .addOption(stateOption())
    .option('--json', 'as JSON')
    .action((o: { state: string; json?: boolean }) =>
      withDb(o.state, (_h, t) => {
        const rows = t.history();
        if (o.json) return out(JSON.stringify(rows));
        if (rows.length === 0) return out('no restores or captures yet');
        for (const r of rows) out(`${when(r.started as number)}  ${String(r.mac)}  ${String(r.kind).padEnd(8)} ${String(r.image).padEnd(24)} ${String(r.result)}${r.error ? `: ${String(r.error)}` : ''}`);
      }),
    );
}
