/** `netrestore hosts …`: hosts, one-shot tasks and history, on the database that serve uses (--state). */
import type { Command } from 'commander';
import { defaultStatePath } from './service.ts';
import { Argument, Option } from 'commander';
import { NetrestoreError } from '../shared/errors.ts';
import { checkName } from '../shared/format.ts';
import { checkDiskPath, checkHostName } from '../shared/names.ts';
import { openState } from '../state/db.ts';
import { normalizeMac } from '../state/hosts.ts';
import { openStores, type State } from '../state/stores.ts';
import type { TaskKind } from '../state/tasks.ts';
import { cliActor } from './audit.ts';

const stateOption = () => new Option('--state <file>', 'state database (the one serve uses)').default(defaultStatePath());
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

function withDb<T>(file: string, f: (hosts: State['hosts'], tasks: State['tasks'], s: State) => T): T {
  const db = openState(file);
  try {
    const s = openStores(db);
    return f(s.hosts, s.tasks, s);
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
    .addOption(new Option('--uefi-boot <chain>', "this host's chain on UEFI x64 PXE (overrides serve --uefi-boot); default: the server's again").choices(['shim', 'ipxe', 'default']))
    .addOption(stateOption())
    .action((m: string, o: { name?: string; notes?: string; ignore?: boolean; menuTimeout?: number; uefiBoot?: 'shim' | 'ipxe' | 'default'; state: string }) =>
      withDb(o.state, (h, _t, s) => {
        if (o.menuTimeout !== undefined && !(Number.isInteger(o.menuTimeout) && o.menuTimeout >= 1 && o.menuTimeout <= 3600)) {
          throw new NetrestoreError('USAGE', '--menu-timeout takes whole seconds from 1 to 3600');
        }
        if (o.name !== undefined) checkHostName(o.name); // the menu shows it
        const known = h.get(mac(m)) !== undefined;
        h.upsert({ mac: mac(m), name: o.name ?? null, notes: o.notes ?? null, ignore: o.ignore, menuTimeout: o.menuTimeout ?? null, uefiBoot: o.uefiBoot });
        s.audit.record({ actor: cliActor(), action: known ? 'host-edit' : 'host-add', mac: mac(m), detail: JSON.stringify({ name: o.name, notes: o.notes, ignore: o.ignore, menuTimeout: o.menuTimeout, uefiBoot: o.uefiBoot }) });
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
      withDb(o.state, (h, t, s) => {
        // Both reach the boot script and the kernel command line.
        checkName(image);
        if (o.disk !== undefined) checkDiskPath(o.disk);
        if (!h.get(mac(m))) h.upsert({ mac: mac(m) });
        const task = t.create(mac(m), kind, image, o.disk ?? null);
        s.audit.record({ actor: cliActor(), action: 'task-create', mac: task.mac, image, detail: `task ${task.id} ${kind}${task.disk ? ` to ${task.disk}` : ''}` });
        out(`task ${task.id}: ${kind} ${image} for ${task.mac} at its next network boot`);
      }),
    );

  hosts
    .command('cancel')
    .description("cancel a host's pending or started task")
    .argument('<mac>')
    .addOption(stateOption())
    .action((m: string, o: { state: string }) =>
      withDb(o.state, (_h, t, s) => {
        const task = t.current(mac(m));
        const n = t.cancel(mac(m));
        if (task && n) s.audit.record({ actor: cliActor(), action: 'task-cancel', mac: task.mac, image: task.image, detail: `task ${task.id} ${task.kind} (${task.state})` });
        out(n ? `cancelled the task of ${mac(m)}` : `${mac(m)} has no task to cancel`);
      }),
    );

  hosts
    .command('rm')
    .description('forget a host and cancel its task (its history stays)')
    .argument('<mac>')
    .addOption(stateOption())
    .action((m: string, o: { state: string }) =>
      withDb(o.state, (h, t, s) => {
        if (!h.get(mac(m))) throw new NetrestoreError('USAGE', `no host ${mac(m)}; see \`netrestore hosts list\``);
        const n = t.cancel(mac(m));
        h.remove(mac(m));
        s.audit.record({ actor: cliActor(), action: 'host-remove', mac: mac(m), detail: n ? 'its task cancelled' : null });
        out(`host ${mac(m)} removed${n ? ', its task cancelled' : ''}`);
      }),
    );

  hosts
    .command('history')
    .description('restores and captures, newest first')
    .addOption(stateOption())
    .option('--json', 'as JSON')
    .action((o: { state: string; json?: boolean }) =>
      withDb(o.state, (_h, _t, s) => {
        const rows = s.history.list();
        if (o.json) return out(JSON.stringify(rows));
        if (rows.length === 0) return out('no restores or captures yet');
        for (const r of rows) out(`${when(r.started)}  ${r.mac}  ${r.kind.padEnd(8)} ${r.image.padEnd(24)} ${r.result}${r.error ? `: ${r.error}` : ''}`);
      }),
    );
}
