/**
 * `netrestore install` and `netrestore backup`: the boot server itself, as a
 * system service (service/install.ts) and its own state in one file
 * (service/backup.ts).
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadServeConfig, readConfigFile } from '../config/load.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The configuration file in effect: --config, else NETRESTORE_CONFIG (set by an install), else none (a checkout). */
export function configFileInEffect(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env.NETRESTORE_CONFIG || undefined);
}

/**
 * The state database the other commands (hosts, audit) default to: the one in
 * NETRESTORE_CONFIG's file on an installed server, else a checkout's netrestore.db.
 */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const file = configFileInEffect(undefined, env);
  if (!file) return 'netrestore.db';
  try {
    const state = readConfigFile(file).state;
    return typeof state === 'string' ? state : 'netrestore.db';
  } catch {
    return 'netrestore.db'; // serve reports an unreadable file; a listing need not fail on it
  }
}

export function registerServiceCommands(cli: Command): void {
  cli
    .command('install')
    .description('install netrestore as a system service: code in /opt/netrestore, the systemd unit, /etc/netrestore/config.json (an existing one is kept), /var/lib/netrestore, the user netrestore')
    .option('--root <dir>', 'install under this directory instead of / (a system image, a test); no user is created then', '/')
    .option('--no-user', 'do not create the user netrestore now (the sysusers.d entry creates it at boot)')
    .option('--json', 'print the report as JSON')
    .action(async (o: { root: string; user: boolean; json?: boolean }) => {
      const { install } = await import('../service/install.ts');
      const r = await install({ root: o.root, createUser: o.user, log: (l) => process.stderr.write(`install: ${l}\n`) });
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      const lines = [`installed under ${r.root}:`, ...r.written.map((w) => `  wrote ${w}`), ...r.kept.map((k) => `  kept  ${k} (already there)`)];
      lines.push(r.user === 'created' ? '  user netrestore is there' : '  user netrestore: not created now (the sysusers.d entry creates it when that system boots)');
      lines.push('then:', ...r.next.map((n) => `  ${n}`));
      process.stdout.write(lines.join('\n') + '\n');
    });

  cli
    .command('backup')
    .description("write the server's state database, configuration and TLS material into one file (images have their own export); --restore puts such a file in place on a new server")
    .argument('<file>', 'the backup file to write, or to read with --restore')
    .option('--restore', 'restore FILE onto this server (stop the service first)')
    .option('--force', 'with --restore: replace the state database already there (kept as *.before-restore)')
    .option('--config <file>', "the server's configuration file (default: NETRESTORE_CONFIG, set on an installed server)")
    .option('--state <file>', 'the state database (default: the configuration\'s, or netrestore.db)')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, o: { restore?: boolean; force?: boolean; config?: string; state?: string; json?: boolean }) => {
      const config = configFileInEffect(o.config);
      // The state path as serve would use it: the flag, the file's, the default. On restore the file
      // may not exist yet (a new server): then the flag or the default.
      const fromFile = config && !o.state ? loadServeConfig(readConfigFile(config), {}).state : undefined;
      const state = resolve(o.state ?? fromFile ?? 'netrestore.db');
      const { restoreBackup, writeBackup } = await import('../service/backup.ts');
      if (o.restore) {
        const r = await restoreBackup(file, { state, config: config && resolve(config), force: o.force === true });
        if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
        const lines = [`restored ${file} (netrestore ${r.manifest.netrestoreVersion}, ${r.manifest.created}):`, ...r.written.map((w) => `  wrote ${w}`), ...r.movedAside.map((m) => `  kept the old ${m} as ${m}.before-restore`), ...r.skipped.map((s) => `  not restored: ${s}`)];
        lines.push('start the service now; a newer netrestore updates the database at its first start');
        return void process.stdout.write(lines.join('\n') + '\n');
      }
      const m = await writeBackup(resolve(file), { state, config: config && resolve(config) }, VERSION);
      if (o.json) return void process.stdout.write(JSON.stringify(m) + '\n');
      process.stdout.write([`wrote ${file}:`, ...m.files.map((f) => `  ${f.name.padEnd(16)} ${String(f.bytes).padStart(10)} B`), 'the image store is not in it: `netrestore images export NAME` for each image'].join('\n') + '\n');
    });
}
