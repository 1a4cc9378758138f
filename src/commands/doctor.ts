/** `netrestore doctor`: check this machine and its network for what makes network boot fail. */
import { Option, type Command } from 'commander';
import { loadServeConfig, readConfigFile } from '../config/load.ts';
import { runDoctor } from '../doctor/doctor.ts';
import { findingLine } from '../doctor/finding.ts';

const toInt = (v: string) => (/^\d+$/.test(v) ? Number(v) : v);
const portOrOff = (v: string) => (v === 'off' ? v : toInt(v));

export function registerDoctorCommand(cli: Command): void {
  cli
    .command('doctor')
    .description('check ports, other DHCP/ProxyDHCP servers, boot files, free space, clock, TLS and firmware that ignores ProxyDHCP; one line per finding with its fix')
    .option('--config <file>', 'the serve configuration file to check against; flags override it')
    .option('--interface <name>', 'the interface to probe for DHCP servers')
    .addOption(new Option('--dhcp <mode>', 'proxy, full or off (default proxy)').choices(['proxy', 'full', 'off']))
    .option('--dhcp-port <n>', 'DHCP port (default 67)', toInt)
    .option('--proxy-port <n>', 'PXE boot-server port (default 4011)', toInt)
    .option('--tftp-port <n|off>', 'TFTP port (default 69)', portOrOff)
    .option('--http-port <n|off>', 'HTTP port (default 8080)', portOrOff)
    .addOption(new Option('--uefi-boot <chain>', "UEFI x64 PXE clients' chain (default: shim in full mode, ipxe in proxy mode); shim in proxy mode needs the site DHCP server to name this one").choices(['shim', 'ipxe']))
    .option('--listen <addr>', 'the address the service listens on (default 0.0.0.0)')
    .option('--boot-dir <dir>', 'boot files directory (default boot-assets/dist)')
    .option('--images <dir>', 'image store directory (default images)')
    .option('--tls-cert <file>', 'a PEM certificate whose expiry to check')
    .option('--probe-seconds <n>', 'how long to listen for DHCP offers (default 6: servers ping an address before they offer it)', toInt)
    .option('--json', 'one JSON object: ok, findings, and every check with its status')
    .action(async (opts: Record<string, unknown>) => {
      const { config: file, tlsCert, probeSeconds, json, ...flags } = opts;
      const config = loadServeConfig(typeof file === 'string' ? readConfigFile(file) : {}, flags);
      const seconds = typeof probeSeconds === 'number' && probeSeconds > 0 ? probeSeconds : 6;
      const results = await runDoctor({ config, tlsCert: tlsCert as string | undefined, probeSeconds: seconds });
      const findings = results.flatMap((r) => r.findings);
      if (json) process.stdout.write(JSON.stringify({ ok: findings.length === 0, findings, checks: results }) + '\n');
      else {
        for (const f of findings) process.stdout.write(findingLine(f) + '\n');
        for (const r of results.filter((x) => x.status === 'skipped')) process.stdout.write(`(skipped ${r.check}: ${r.note})\n`);
        if (!findings.length) process.stdout.write(`no findings: ${results.filter((r) => r.status === 'ok').map((r) => r.check).join(', ')} ok\n`);
      }
      // Findings are a failed check: scripts and monitoring can test the exit code.
      if (findings.length) process.exitCode = 1;
    });
}
