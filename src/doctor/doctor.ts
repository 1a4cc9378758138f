/**
 * `netrestore doctor`: what makes F12 fail in real rooms, checked from this
 * machine, each finding one line with its fix. The checks are pure over what
 * the edges here read: `ss`, /proc, a DHCP probe on the interface, files,
 * and the running service's /healthz.
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { ServeConfig } from '../config/schema.ts';
import { DEFAULT_BOOT_FILES } from '../dhcp/boot-target.ts';
import type { HealthReport } from '../health/health.ts';
import { defaultUefiBoot } from '../dhcp/policy.ts';
import { localNetwork } from '../net/interfaces.ts';
import { probeOffers } from './dhcp-probe.ts';
import { found, skipped, type CheckResult } from './finding.ts';
import { bootFilesCheck, clockCheck, freeSpaceCheck, tlsCheck } from './local-checks.ts';
import { offerFindings } from './offers.ts';
import { parseSs, portFindings, type Listener, type WantedPort } from './ports.ts';

export interface DoctorOptions {
  config: ServeConfig;
  tlsCert?: string | undefined;
  probeSeconds: number;
}

const ROOT = join(import.meta.dirname, '../..');

/** A process of netrestore itself (the running service, from this checkout or one named netrestore): its ports are no finding. */
function isNetrestore(pid: number): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    return args.some((a) => a.startsWith(ROOT + '/') || /netrestore/.test(a));
  } catch {
    return false;
  }
}

async function listeners(): Promise<Listener[]> {
  const [u, t] = await Promise.all([execa('ss', ['-Hlnup']), execa('ss', ['-Hlntp'])]);
  return [...parseSs(u.stdout, 'udp'), ...parseSs(t.stdout, 'tcp')];
}

function wantedPorts(c: ServeConfig): WantedPort[] {
  const w: WantedPort[] = [];
  if (c.dhcp !== 'off') w.push({ proto: 'udp', port: c.dhcpPort, what: 'DHCP', flag: '--dhcp-port (clients only ask 67: better stop the other server)' }, { proto: 'udp', port: c.proxyPort, what: 'PXE boot server', flag: '--proxy-port' });
  if (c.tftpPort !== 'off') w.push({ proto: 'udp', port: c.tftpPort, what: 'TFTP', flag: '--tftp-port (firmware only asks 69: better stop the other server)' });
  if (c.httpPort !== 'off') w.push({ proto: 'tcp', port: c.httpPort, what: 'HTTP', flag: '--http-port' });
  return w;
}

async function dhcpCheck(c: ServeConfig, ls: Listener[], seconds: number): Promise<CheckResult> {
  if (c.dhcp === 'off') return skipped('dhcp', 'DHCP is off');
  let ifname: string | undefined;
  try {
    ifname = c.interface ?? localNetwork(networkInterfaces(), { listen: c.listen }).ifname;
  } catch (err) {
    return skipped('dhcp', `no interface to probe: ${(err as Error).message}`);
  }
  if (!ifname) return skipped('dhcp', 'several networks: name the one to probe with --interface');
  let offers;
  try {
    offers = await probeOffers(ifname, seconds, { server: 67, client: 68 });
  } catch (err) {
    const holder = ls.find((l) => l.proto === 'udp' && l.port === 68)?.processes[0];
    return skipped('dhcp', `cannot listen for offers on UDP 68${holder ? ` (held by ${holder.name}, pid ${holder.pid})` : ''}: ${(err as Error).message}`);
  }
  const local = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address));
  const other67 = ls.find((l) => l.proto === 'udp' && l.port === 67 && l.processes.some((p) => !isNetrestore(p.pid)))?.processes[0];
  return offerFindings(offers, { mode: c.dhcp, local, localDhcp: other67 && `${other67.name} (pid ${other67.pid})`, seconds, uefiBoot: defaultUefiBoot(c) });
}

async function firmwareCheck(c: ServeConfig): Promise<CheckResult> {
  if (c.httpPort === 'off') return skipped('firmware', 'HTTP is off: the service reports what it saw on /healthz');
  const host = c.listen === '0.0.0.0' ? '127.0.0.1' : c.listen;
  let report: HealthReport;
  try {
    const r = await fetch(`http://${host}:${c.httpPort}/healthz`, { signal: AbortSignal.timeout(3000) });
    report = (await r.json()) as HealthReport;
  } catch {
    return skipped('firmware', `the service does not answer on http://${host}:${c.httpPort}/healthz (not running?)`);
  }
  if (!Array.isArray(report.ignoringOffers)) return skipped('firmware', 'the service reports no offer watch (an older version?)');
  return found(
    'firmware',
    report.ignoringOffers.map((i) => ({
      check: 'firmware',
      problem: `${i.mac} sent ${i.offers} DISCOVERs since ${i.since} and never followed our ProxyDHCP offer`,
      fix: 'its firmware ignores ProxyDHCP: update it, set options 66/67 for this machine on the site DHCP server, or boot it on an isolated network with --dhcp full',
    })),
  );
}

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
  const c = o.config;
  const results: CheckResult[] = [];
  let ls: Listener[] = [];
  try {
    ls = await listeners();
    results.push(portFindings(ls, wantedPorts(c), isNetrestore));
  } catch (err) {
    results.push(skipped('ports', `cannot run ss (iproute2): ${(err as Error).message}`));
  }
  results.push(await dhcpCheck(c, ls, o.probeSeconds));
  const f = DEFAULT_BOOT_FILES;
  results.push(bootFilesCheck({ bootDir: c.bootDir, ipxe: [f.bios, f.uefiX64, f.httpX64], env: [c.kernel, c.initrd, ...(defaultUefiBoot(c) === 'shim' ? [f.shimX64, 'grubx64.efi'] : [])] }));
  results.push(freeSpaceCheck(c.images));
  results.push(clockCheck(Date.now(), [join(ROOT, 'package.json'), join(ROOT, 'src/cli.ts')]));
  results.push(tlsCheck(o.tlsCert, Date.now()));
  results.push(await firmwareCheck(c));
  return results;
}
