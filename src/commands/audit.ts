/** `netrestore audit`: who changed what (tasks, hosts, images, menu logins), from the database that serve uses. */
import type { Command } from 'commander';
import { defaultStatePath } from './service.ts';
import { Option } from 'commander';
import { userInfo } from 'node:os';
import { NetrestoreError } from '../shared/errors.ts';
import { NAME_PATTERN } from '../shared/format.ts';
import { parseSince, AuditLog, type AuditEntry } from '../state/audit.ts';
import { openState } from '../state/db.ts';
import { parseMac } from '../state/hosts.ts';

/** The audit log's name for whoever runs a CLI command. */
export function cliActor(): string {
  let user = process.env.SUDO_USER || process.env.USER;
  try {
    user ||= userInfo().username;
  } catch {
    // no passwd entry (a container): the uid will do
  }
  return `cli ${user || `uid ${process.getuid?.() ?? '?'}`}`;
}

const when = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The audit rows as a fixed-width table, newest first. */
export function auditTable(rows: AuditEntry[]): string[] {
  const w = { actor: Math.max(5, ...rows.map((r) => r.actor.length)), action: Math.max(6, ...rows.map((r) => r.action.length)) };
  const lines = [`${'TIME (UTC)'.padEnd(19)}  ${'ACTOR'.padEnd(w.actor)}  ${'ACTION'.padEnd(w.action)}  ${'HOST'.padEnd(17)}  ${'IMAGE'.padEnd(16)}  DETAIL`];
  for (const r of rows) lines.push(`${when(r.time)}  ${r.actor.padEnd(w.actor)}  ${r.action.padEnd(w.action)}  ${(r.mac ?? '-').padEnd(17)}  ${(r.image ?? '-').padEnd(16)}  ${r.detail ?? ''}`);
  return lines;
}

export function registerAuditCommand(cli: Command): void {
  cli
    .command('audit')
    .description('the audit log: tasks, hosts and images changed through the API or the CLI, and menu logins; newest first')
    .addOption(new Option('--state <file>', 'state database (the one serve uses)').default(defaultStatePath()))
    .option('--host <mac>', 'only entries about this host')
    .option('--image <name>', 'only entries about this image')
    .option('--since <when>', 'only entries since a time: a duration back (30m, 12h, 7d) or a date (2026-12-01, 2026-12-01T08:00:00Z)')
    .option('--limit <n>', 'at most this many entries (default 50)', (v) => Number(v), 50)
    .option('--json', 'as JSON')
    .action((o: { state: string; host?: string; image?: string; since?: string; limit: number; json?: boolean }) => {
      const mac = o.host === undefined ? undefined : parseMac(o.host);
      if (o.host !== undefined && !mac) throw new NetrestoreError('USAGE', `--host: ${o.host} is not a MAC address (like 52:54:00:12:34:56)`);
      if (o.image !== undefined && !NAME_PATTERN.test(o.image)) throw new NetrestoreError('USAGE', `--image: ${o.image} is not an image name`);
      const since = o.since === undefined ? undefined : parseSince(o.since);
      if (o.since !== undefined && since === undefined) throw new NetrestoreError('USAGE', `--since: ${o.since} is neither a duration (30m, 12h, 7d) nor a date (2026-12-01)`);
      if (!(Number.isInteger(o.limit) && o.limit >= 1)) throw new NetrestoreError('USAGE', '--limit takes a whole number from 1');
      const db = openState(o.state);
      try {
        const rows = new AuditLog(db).list({ mac, image: o.image, since, limit: o.limit });
        if (o.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
        if (rows.length === 0) return void process.stdout.write('no audit entries' + (o.host || o.image || o.since ? ' match' : ' yet') + '\n');
        process.stdout.write(auditTable(rows).join('\n') + '\n');
      } finally {
        db.close();
      }
    });
}
