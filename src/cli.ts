/**
 * The one command line. Each subcommand validates its configuration once and
 * hands it to the part that does the work. On bad input or a failure: one
 * line on stderr (the stack only with --debug or NETRESTORE_DEBUG=1), a JSON
 * object on stdout under --json, exit 2 for a usage error and 1 for a failure.
 * Only this layer reads the environment.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { loadServeConfig, readConfigFile } from './config/load.ts';
import { guardCommands, isCommanderExit, reportFailure, wantsJson } from './shared/cli-report.ts';
import { createLogger, streamSink } from './log.ts';
import { registerImageCommands } from './commands/images.ts';
import { registerAgentCommands } from './restore-agent/commands.ts';
import { openSource } from './images/source.ts';
import { registerHostCommands } from './commands/hosts.ts';
import { registerBuildEnvCommand } from './commands/build-env.ts';
import { registerDrillCommand } from './commands/drill.ts';
import { registerAuditCommand } from './commands/audit.ts';
import { registerUserCommands } from './commands/users.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerServiceCommands } from './commands/service.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const toInt = (v: string) => (/^\d+$/.test(v) ? Number(v) : v);
const portOrOff = (v: string) => (v === 'off' ? v : toInt(v));
const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter(Boolean)];

export function program(): Command {
  const cli = new Command('netrestore')
    .description('Network-boot disaster recovery: PXE boot, restore and capture disk images, VM restore drills')
    .version(VERSION, '--version', 'print the version of netrestore')
    .option('--debug', 'on an error, print its stack too (or set NETRESTORE_DEBUG=1)');

  cli
    .command('serve')
    .description('answer PXE clients (DHCP/ProxyDHCP), serve boot files (TFTP, HTTP), boot menus and images')
    .option('--config <file>', 'JSON configuration file; flags override it')
    .option('--listen <addr>', 'address to listen on (default 0.0.0.0)')
    .option('--interface <name>', 'network interface to serve; DHCP answers only there')
    .option('--server-ip <addr>', "address clients fetch from (default: the interface's)")
    .addOption(new Option('--dhcp <mode>', 'proxy: beside the site DHCP server; full: hand out addresses; off (default proxy)').choices(['proxy', 'full', 'off']))
    .option('--dhcp-port <n>', 'DHCP port (default 67)', toInt)
    .option('--proxy-port <n>', 'PXE boot-server port (default 4011)', toInt)
    .option('--pool <first-last>', 'full mode: addresses to hand out, e.g. 10.0.0.100-10.0.0.200')
    .option('--subnet-mask <mask>', "full mode: subnet mask (default: the interface's)")
    .option('--router <addr>', 'full mode: default gateway for clients')
    .option('--dns <addr>', 'full mode: DNS server for clients (repeat or comma-separate)', list)
    .option('--domain <name>', 'full mode: domain name for clients')
    .option('--lease-time <seconds>', 'full mode: lease time (default 3600)', toInt)
    .option('--tftp-port <n|off>', 'TFTP port or off (default 69)', portOrOff)
    .option('--tftp-busy-poll <ms>', 'TFTP: keep polling this long for the next ACK instead of sleeping; 0 turns it off (default 2)', toInt)
    .option('--http-port <n|off>', 'HTTP port or off (default 8080)', portOrOff)
    .addOption(new Option('--tls <mode>', 'auto: the API over HTTPS with a self-signed certificate made on first start; off (default, unless --tls-cert)').choices(['off', 'auto']))
    .option('--tls-cert <file>', 'TLS certificate (PEM) for the API over HTTPS; with --tls-key')
    .option('--tls-key <file>', 'its private key (PEM)')
    .option('--https-port <n>', 'HTTPS port when TLS is on (default 8443)', toInt)
    .option('--user <name>', 'started as root: bind the ports, then run as this user')
    .option('--boot-dir <dir>', 'boot files directory (default boot-assets/dist)')
    .option('--images <dir>', 'image store directory (default images)')
    .option('--state <file>', 'state database (default netrestore.db)')
    .option('--admin-token <token>', 'admin token for the API (default: generated on first start into STATE.admin-token, beside --state, root only)')
    .option('--menu-title <text>', 'boot menu title (default netrestore)')
    .option('--menu-timeout <seconds>', 'seconds before the menu boots the local disk (default 10)', toInt)
    .option('--menu-default <entry>', 'entry taken after the timeout: local (default), shell, capture or an image name')
    .option('--menu-user <name>', 'user name for menu logins (default admin)')
    .option('--menu-password <password>', 'password for menu logins (default: the admin token)')
    .addOption(new Option('--uefi-boot <chain>', 'UEFI x64 PXE clients boot shim: the signed chain, Secure Boot on or off (default in full mode; in proxy mode the site DHCP server must name this server as next-server); ipxe: iPXE, Secure Boot off only (default in proxy mode)').choices(['shim', 'ipxe']))
    .option('--menu-templates <dir>', 'folder with your own copies of the menu templates')
    .option('--kernel <name>', 'restore environment kernel in --boot-dir (default vmlinuz)')
    .option('--initrd <name>', 'restore environment initrd in --boot-dir (default initrd.img)')
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error (default info)').choices(['debug', 'info', 'warn', 'error']))
    .option('--stop-timeout <seconds>', 'on SIGTERM, how long running transfers may finish before they are cut (default 30)', toInt)
    .action(async (opts: Record<string, unknown>) => {
      const { config: flagFile, ...flags } = opts;
      // An installed netrestore finds its configuration through NETRESTORE_CONFIG (the unit and /usr/local/bin/netrestore set it).
      const file = typeof flagFile === 'string' ? flagFile : process.env.NETRESTORE_CONFIG || undefined;
      const read = () => loadServeConfig(file ? readConfigFile(file) : {}, flags);
      const config = read();
      const sink = streamSink(process.stdout);
      // Loaded here, not at the top: restore and capture start without express, SQLite and DHCP.
      const log = createLogger(sink, config.logLevel); // a reload may change the level, never forget a secret
      const { serve } = await import('./serve.ts');
      // A named interface is followed through link changes (net/link-watch.ts); a failed restart ends the process.
      const onFatal = (err: unknown) => process.exit(reportFailure(err, { json: false, debug: process.env.NETRESTORE_DEBUG === '1' }));
      const running = config.interface ? await (await import('./net/link-watch.ts')).serveOnLink(config, log, serve, { onFatal }) : await serve(config, log);
      const { handleSignals } = await import('./service/signals.ts');
      handleSignals(running, { log, config, reread: read, applied: (c) => log.setLevel(c.logLevel), exit: (code) => process.exit(code) });
    });

  registerImageCommands(cli);
  registerAgentCommands(cli, openSource);
  registerHostCommands(cli);
  registerBuildEnvCommand(cli);
  registerDrillCommand(cli);
  registerAuditCommand(cli);
  registerUserCommands(cli);
  registerDoctorCommand(cli);
  registerServiceCommands(cli);
  return cli;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const cli = program();
  const seen = guardCommands(cli);
  try {
    await cli.parseAsync(argv);
  } catch (err) {
    // Help asked for: 0; help shown because no subcommand was given: a usage error.
    if (isCommanderExit(err)) process.exit(err.code === 'commander.help' && err.exitCode !== 0 ? 2 : err.exitCode);
    const debug = argv.includes('--debug') || env.NETRESTORE_DEBUG === '1';
    // exit, not exitCode: a half-started serve may hold sockets open. stdout and stderr are synchronous here.
    process.exit(reportFailure(err, { json: wantsJson(seen.command, argv.slice(2)), debug }));
  }
}

// Run when started as the command, not when a test imports program().
if (import.meta.main) await main(process.argv);
