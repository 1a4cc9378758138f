/**
 * Ports the service needs, taken by another process: read from `ss -lnp`
 * (which names the process), checked against the configured ports. The
 * service's own sockets (a process whose command line runs netrestore) are
 * not a finding.
 */
import { found, type CheckResult, type Finding } from './finding.ts';

export interface Listener {
  proto: 'udp' | 'tcp';
  address: string;
  port: number;
  processes: { name: string; pid: number }[];
}

export interface WantedPort {
  proto: 'udp' | 'tcp';
  port: number;
  /** What it is for, and the flag that moves it. */
  what: string;
  flag: string;
}

/** Parse the lines of `ss -Hlnup` or `ss -Hlntp` (with or without the Netid column). */
export function parseSs(text: string, proto: 'udp' | 'tcp'): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols.find((c) => /:(\d+|\*)$/.test(c));
    const m = local && /^(.*):(\d+)$/.exec(local);
    if (!m) continue;
    const processes = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((p) => ({ name: p[1]!, pid: Number(p[2]) }));
    out.push({ proto, address: m[1]!.replace(/%\S+$/, ''), port: Number(m[2]), processes });
  }
  return out;
}

export function portFindings(listeners: Listener[], wanted: WantedPort[], isOwn: (pid: number) => boolean): CheckResult {
  const findings: Finding[] = [];
  for (const w of wanted) {
    const holders = listeners.filter((l) => l.proto === w.proto && l.port === w.port);
    const others = holders.flatMap((l) => l.processes).filter((p) => !isOwn(p.pid));
    const unnamed = holders.some((l) => l.processes.length === 0);
    const seen = new Set<number>();
    for (const p of others) {
      if (seen.has(p.pid)) continue;
      seen.add(p.pid);
      findings.push({ check: 'ports', problem: `${w.proto.toUpperCase()} port ${w.port} (${w.what}) is taken by ${p.name} (pid ${p.pid})`, fix: `stop and disable it (systemctl disable --now the unit that runs ${p.name}) or move netrestore with ${w.flag}` });
    }
    if (unnamed && !others.length) findings.push({ check: 'ports', problem: `${w.proto.toUpperCase()} port ${w.port} (${w.what}) is taken by a process this user cannot see`, fix: `run doctor as root to name it, or move netrestore with ${w.flag}` });
  }
  return found('ports', findings, `checked ${wanted.map((w) => `${w.proto}/${w.port}`).join(', ')}`);
}
