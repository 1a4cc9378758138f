/**
 * bench/dhcp: perfdhcp (Debian kea-admin) against netrestore in full mode and
 * against dnsmasq, in the same namespace setup, at the same rate. Prints
 * replies per second, drops and latency side by side, and the ratio.
 *
 *   node bench/dhcp.ts [--rate 2000] [--clients 30000] [--seconds 10] [--runs 2]
 *
 * Both servers keep leases on disk and skip the ping check (dnsmasq
 * --no-ping; netrestore has none), so they do the same work per client.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '2000' }, clients: { type: 'string', default: '30000' }, seconds: { type: 'string', default: '10' }, runs: { type: 'string', default: '2' } },
});
const RATE = Number(values.rate);
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const BIN = join(import.meta.dirname, '../bin/netrestore');
const SRV = 'nrbench-srv';
const CLI = 'nrbench-cli';

interface Exchange {
  sent: number;
  received: number;
  dropsPct: number;
  avgMs: number;
  maxMs: number;
}
interface Result {
  repliesPerSec: number;
  do: Exchange;
  ra: Exchange;
}

const ip = (...args: string[]) => execa('ip', args);

async function makeNet(): Promise<void> {
  await execa('ip', ['netns', 'del', SRV], { reject: false });
  await execa('ip', ['netns', 'del', CLI], { reject: false });
  await ip('netns', 'add', SRV);
  await ip('netns', 'add', CLI);
  await ip('-n', SRV, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLI);
  await ip('-n', SRV, 'addr', 'add', '10.81.0.1/16', 'dev', 'eth0');
  await ip('-n', CLI, 'addr', 'add', '10.81.0.2/16', 'dev', 'eth0');
  for (const ns of [SRV, CLI]) {
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
}

function parse(out: string): Result {
  const section = (name: string): Exchange => {
    const s = out.slice(out.indexOf(`Statistics for: ${name}`));
    const num = (re: RegExp) => Number(re.exec(s)?.[1] ?? NaN);
    return { sent: num(/sent packets: (\d+)/), received: num(/received packets: (\d+)/), dropsPct: num(/drops ratio: ([\d.]+)/), avgMs: num(/avg delay: ([\d.]+)/), maxMs: num(/max delay: ([\d.]+)/) };
  };
  const d = section('DISCOVER-OFFER');
  const r = section('REQUEST-ACK');
  return { repliesPerSec: (d.received + r.received) / SECONDS, do: d, ra: r };
}

async function run(server: 'netrestore' | 'dnsmasq', dir: string): Promise<Result> {
  await makeNet();
  const proc =
    server === 'netrestore'
      ? execa('ip', ['netns', 'exec', SRV, BIN, 'serve', '--dhcp', 'full', '--pool', '10.81.1.0-10.81.200.255', '--tftp-port', 'off', '--http-port', 'off', '--state', join(dir, `nr-${Date.now()}.db`), '--log-level', 'warn'], { reject: false })
      : execa('ip', ['netns', 'exec', SRV, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.81.1.0,10.81.200.255,255.255.0.0,1h',
          `--dhcp-leasefile=${join(dir, `dm-${Date.now()}.leases`)}`, '--no-ping', '--quiet-dhcp', '--dhcp-lease-max=100000', '--dhcp-authoritative'], { reject: false });
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const p = await execa('ip', ['netns', 'exec', CLI, 'perfdhcp', '-4', '-l', 'eth0', '-r', String(RATE), '-R', String(CLIENTS), '-p', String(SECONDS), '-W', '1000000'], { reject: false, all: true });
    return parse(String(p.all));
  } finally {
    proc.kill();
    await proc;
    await execa('ip', ['netns', 'del', SRV], { reject: false });
    await execa('ip', ['netns', 'del', CLI], { reject: false });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'nr-bench-dhcp-'));
try {
  const results: Record<string, Result[]> = { netrestore: [], dnsmasq: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? (['dnsmasq', 'netrestore'] as const) : (['netrestore', 'dnsmasq'] as const);
    for (const s of order) results[s]!.push(await run(s, dir));
  }
  const best = (rs: Result[]) => [...rs].sort((a, b) => b.repliesPerSec - a.repliesPerSec)[Math.floor(rs.length / 2)]!;
  const nr = best(results.netrestore!);
  const dm = best(results.dnsmasq!);
  console.log(`DHCP full mode, perfdhcp DORA at ${RATE}/s, ${CLIENTS} clients, ${SECONDS} s, median of ${RUNS} runs`);
  console.log(`${''.padEnd(26)}${'netrestore'.padStart(12)}${'dnsmasq'.padStart(12)}`);
  const row = (name: string, f: (r: Result) => number, digits = 1) => console.log(`${name.padEnd(26)}${f(nr).toFixed(digits).padStart(12)}${f(dm).toFixed(digits).padStart(12)}`);
  row('replies/s', (r) => r.repliesPerSec);
  row('OFFER drops %', (r) => r.do.dropsPct, 3);
  row('ACK drops %', (r) => r.ra.dropsPct, 3);
  row('OFFER avg latency ms', (r) => r.do.avgMs, 2);
  row('ACK avg latency ms', (r) => r.ra.avgMs, 2);
  row('ACK max latency ms', (r) => r.ra.maxMs, 2);
  console.log(`ratio netrestore/dnsmasq, replies/s: ${(nr.repliesPerSec / dm.repliesPerSec).toFixed(2)} (goal >= 1.0, no drops at ${RATE}/s)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
