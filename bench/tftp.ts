/**
 * bench/tftp: netrestore's TFTP server against tftpd-hpa on loopback, same
 * 40 MB file, same clients, alternating runs; prints median speeds and ratios.
 *
 *   node bench/tftp.ts [--runs 5] [--size-mb 40]
 *
 * Needs: tftpd-hpa (in.tftpd), curl, atftp. Goals (issue 3): ratio ≥ 1.0 with
 * curl at blksize 1468, and atftp at windowsize 16 ≥ 3× tftpd-hpa's curl speed.
 * netrestore runs twice: as configured by default (busy polling for ACKs, see
 * src/tftp/busy-poll.ts) and with --tftp-busy-poll 0; each line also gives
 * the server's CPU time per transfer, the price of the polling.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './lib.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'size-mb': { type: 'string', default: '40' } } });
const RUNS = Number(values.runs);
const SIZE = Number(values['size-mb']) * 1_000_000;
const HPA_PORT = 16970;
const NR_PORT = 16969;
const NR_SLEEP_PORT = 16971;

const dir = mkdtempSync(join(tmpdir(), 'nr-bench-tftp-'));
chmodSync(dir, 0o755); // tftpd-hpa drops to user "tftp"
const data = randomBytes(SIZE);
writeFileSync(join(dir, 'big.bin'), data, { mode: 0o644 });
const want = createHash('sha256').update(data).digest('hex');

const hpa = execa('/usr/sbin/in.tftpd', ['-L', '-a', `127.0.0.1:${HPA_PORT}`, '-s', dir], { reject: false, stdin: 'ignore' });
const netrestore = (port: number, extra: string[]) =>
  execa(join(import.meta.dirname, '../bin/netrestore'), ['serve', '--dhcp', 'off', '--http-port', 'off', '--tftp-port', String(port), '--listen', '127.0.0.1', '--boot-dir', dir, '--state', join(dir, `state-${port}.db`), '--log-level', 'warn', ...extra], { reject: false });
const nr = netrestore(NR_PORT, []);
const nrSleep = netrestore(NR_SLEEP_PORT, ['--tftp-busy-poll', '0']);
await new Promise((r) => setTimeout(r, 1500));
const pidOf: Record<number, number> = { [HPA_PORT]: hpa.pid!, [NR_PORT]: nr.pid!, [NR_SLEEP_PORT]: nrSleep.pid! };

/** CPU seconds (user + system) of one process, or undefined once it is gone. */
function cpuOf(pid: number | string): { cpu: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return { cpu: (Number(f[11]) + Number(f[12])) / 100 }; // utime + stime, in USER_HZ
  } catch {
    return undefined;
  }
}

/**
 * Samples the CPU time of a server and of its children every 20 ms while
 * `work` runs (tftpd-hpa serves each transfer in a forked child that is gone,
 * unaccounted, when it ends). Returns the CPU seconds they used meanwhile.
 */
async function cpuDuring(pid: number, work: Promise<unknown>): Promise<number> {
  const first = cpuOf(pid)?.cpu ?? 0;
  const seen = new Map<string, number>();
  const sample = () => {
    seen.set(String(pid), cpuOf(pid)?.cpu ?? 0);
    for (const p of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)) {
      const c = cpuOf(p);
      if (c) seen.set(p, c.cpu);
    }
  };
  const timer = setInterval(sample, 20);
  try {
    await work;
  } finally {
    clearInterval(timer);
    sample();
  }
  return [...seen.values()].reduce((a, b) => a + b, 0) - first;
}

type Client = 'curl-1468' | 'atftp-1468-w16';
const cpu: Record<string, number[]> = {};
async function fetch(name: string, client: Client, port: number): Promise<number> {
  const out = join(dir, `out-${port}`);
  const t0 = performance.now();
  const run =
    client === 'curl-1468'
      ? execa('curl', ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${port}/big.bin`, '-o', out])
      : execa('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', out, '127.0.0.1', String(port)]);
  (cpu[name] ??= []).push(await cpuDuring(pidOf[port]!, run));
  const s = (performance.now() - t0) / 1000;
  const got = createHash('sha256').update(readFileSync(out)).digest('hex');
  if (got !== want) throw new Error(`${client} from port ${port}: checksum mismatch`);
  return SIZE / 1e6 / s;
}

const results: Record<string, number[]> = {
  'tftpd-hpa curl-1468': [],
  'netrestore curl-1468': [],
  'netrestore atftp-1468-w16': [],
  'netrestore no-poll curl-1468': [],
  'netrestore no-poll atftp-w16': [],
};
try {
  for (let i = 0; i < RUNS; i++) {
    // Alternate who goes first so that neither always gets a warm cache.
    const order: [string, Client, number][] = [
      ['tftpd-hpa curl-1468', 'curl-1468', HPA_PORT],
      ['netrestore curl-1468', 'curl-1468', NR_PORT],
      ['netrestore atftp-1468-w16', 'atftp-1468-w16', NR_PORT],
      ['netrestore no-poll curl-1468', 'curl-1468', NR_SLEEP_PORT],
      ['netrestore no-poll atftp-w16', 'atftp-1468-w16', NR_SLEEP_PORT],
    ];
    for (const [name, client, port] of i % 2 ? order.reverse() : order) results[name]!.push(await fetch(name, client, port));
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(`TFTP, ${SIZE / 1e6} MB on loopback, median of ${RUNS} runs (MB/s, server CPU seconds per transfer):`);
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(30)} ${v!.toFixed(2).padStart(7)} MB/s  ${median(cpu[k]!).toFixed(2)} s CPU`);
  const r1 = m['netrestore curl-1468']! / m['tftpd-hpa curl-1468']!;
  const r2 = m['netrestore atftp-1468-w16']! / m['tftpd-hpa curl-1468']!;
  console.log(`ratio netrestore/tftpd-hpa, curl blksize 1468:          ${r1.toFixed(2)} (goal >= 1.0)`);
  console.log(`ratio netrestore windowsize 16 / tftpd-hpa blksize 1468: ${r2.toFixed(2)} (goal >= 3.0)`);
  console.log(`without busy polling (--tftp-busy-poll 0): ${(m['netrestore no-poll curl-1468']! / m['tftpd-hpa curl-1468']!).toFixed(2)} lock-step, ${(m['netrestore no-poll atftp-w16']! / m['tftpd-hpa curl-1468']!).toFixed(2)} windowsize 16`);
} finally {
  for (const p of [hpa, nr, nrSleep]) p.kill();
  await Promise.allSettled([hpa, nr, nrSleep]);
  rmSync(dir, { recursive: true, force: true });
}
