/**
 * The agent as the restore environment runs it (bundled by esbuild into
 * /opt/netrestore/agent.mjs, on the `netrestore` command in its shell):
 *
 *   netrestore boot        what init starts: reads the kernel command line, runs the console
 *   netrestore console     the same console, against a server named by hand
 *   netrestore disks       the disks of this machine
 *   netrestore restore|capture …   the pipelines, as on any Linux machine
 *
 * Errors as on the server's command line (shared/cli-report.ts): one line,
 * exit 2 for usage and 1 for a failure, the stack with --debug.
 */
import { Command } from 'commander';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { registerAgentCommands } from './commands.ts';
import { parseCmdline, type BootParams } from './cmdline.ts';
import { ImagesClient } from './client.ts';
import { diskLine, diskWarning, listDisks } from './disks.ts';
import { captureJob, restoreJob } from './jobs.ts';
import { runConsole } from './console/session.ts';
import { secureBoot } from './secure-boot.ts';
import { guardCommands, isCommanderExit, reportFailure, wantsJson } from '../shared/cli-report.ts';
import { openConsoles, stdioTerminal } from './console/terminal.ts';

function thisHost(server: string): { mac: string; ip: string; server: string } {
  for (const [, addrs] of Object.entries(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { mac: a.mac, ip: a.address, server };
  }
  return { mac: '', ip: 'no address', server };
}

async function consoleSession(params: BootParams, onConsoles: boolean): Promise<void> {
  const client = new ImagesClient({ server: params.server, token: params.token, fingerprint: params.fingerprint });
  const term = onConsoles ? await openConsoles() : stdioTerminal();
  const host = { ...thisHost(new URL(params.server).host), secureBoot: await secureBoot() };
  const exit = await runConsole({
    term,
    host,
    params,
    login: (username, password) => client.consoleLogin({ mac: host.mac, mode: params.mode, image: params.image ?? '-', username, password }),
    images: () => client.catalog(),
    disks: () => listDisks(),
    restore: (j) => restoreJob(client, j),
    capture: (j) => captureJob(client, j),
    now: () => performance.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  term.draw(['', exit === 'reboot' ? ' Rebooting...' : ' Restore shell: type `netrestore --help` for the agent, `reboot -f` to restart.']);
  term.close();
  if (exit === 'reboot') {
    await execa('sync', [], { reject: false });
    await execa('reboot', ['-f'], { reject: false });
    await new Promise(() => {}); // the machine goes down around us
  }
}

const cli = new Command('netrestore')
  .description('the netrestore agent in the restore environment')
  .option('--debug', 'on an error, print its stack too (or set NETRESTORE_DEBUG=1)');
cli
  .command('boot')
  .description('read netrestore.* from the kernel command line and run the console (init starts this)')
  .action(async () => {
    const params: BootParams = parseCmdline(await readFile('/proc/cmdline', 'utf8')); // CMDLINE_INVALID: exit 2
    await consoleSession(params, true);
  });
cli
  .command('console')
  .description('the interactive console on this terminal, against a server named by hand')
  .requiredOption('--server <url>', 'the netrestore server, e.g. http://10.0.0.1:8080')
  .option('--token <token>', 'token for the server (default: $NETRESTORE_TOKEN)')
  .option('--fingerprint <sha256:hex>', "an https:// server's certificate fingerprint, as its https.listening log line prints it")
  .action(async (o: { server: string; token?: string; fingerprint?: string }) => {
    await consoleSession({ server: o.server, token: o.token ?? process.env.NETRESTORE_TOKEN, fingerprint: o.fingerprint, mode: 'menu', image: undefined, task: undefined, disk: undefined }, false);
  });
cli
  .command('disks')
  .description('the disks of this machine, with what they hold')
  .action(async () => {
    for (const d of await listDisks()) process.stdout.write(`${diskLine(d)}\n${diskWarning(d) ? `         ! ${diskWarning(d)}\n` : ''}`);
  });
registerAgentCommands(cli);

const seen = guardCommands(cli);
await cli.parseAsync(process.argv).catch((err: unknown) => {
  if (isCommanderExit(err)) return void (process.exitCode = err.code === 'commander.help' && err.exitCode !== 0 ? 2 : err.exitCode);
  const argv = process.argv.slice(2);
  process.exitCode = reportFailure(err, { json: wantsJson(seen.command, argv), debug: argv.includes('--debug') || process.env.NETRESTORE_DEBUG === '1' });
});
