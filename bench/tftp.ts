/**
 * bench/tftp: netrestore's TFTP server against tftpd-hpa on loopback, same
 * 40 MB file, same clients, alternating runs; prints median speeds and ratios.
 *
 *   node bench/tftp.ts [--runs 5] [--size-mb 40]
 *
 * Needs: tftpd-hpa (in.tftpd), curl, atftp. Goals (issue 3): ratio ≥ 1.0 with
 * curl at blksize 1468, and atftp at windowsize 16 ≥ 3× tftpd-hpa's curl speed.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'size-mb': { type: 'string', default: '40' } } });
const RUNS = Number(values.runs);
const SIZE = Number(values['size-mb']) * 1_000_000;
const HPA_PORT = 16970;
const NR_PORT = 16969;

const dir = mkdtempSync(join(tmpdir(), 'nr-bench-tftp-'));
chmodSync(dir, 0o755); // tftpd-hpa drops to user "tftp"
const data = randomBytes(SIZE);
writeFileSync(join(dir, 'big.bin'), data, { mode: 0o644 });
const want = createHash('sha256').update(data).digest('hex');

const hpa = execa('/usr/sbin/in.tftpd', ['-L', '-a', `127.0.0.1:${HPA_PORT}`, '-s', dir], { reject: false, stdin: 'ignore' });
const nr = execa(join(import.meta.dirname, '../bin/netrestore'), ['serve', '--dhcp', 'off', '--http-port', 'off', '--tftp-port', String(NR_PORT), '--listen', '127.0.0.1', '--boot-dir', dir, '--state', join(dir, 'state.db'), '--log-level', 'warn'], { reject: false });
await new Promise((r) => setTimeout(r, 1500));

type Client = 'curl-1468' | 'atftp-1468-w16';
async function fetch(client: Client, port: number): Promise<number> {
  const out = join(dir, `out-${port}`);
  const t0 = performance.now();
  if (client === 'curl-1468') await execa('curl', ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${port}/big.bin`, '-o', out]);
  else await execa('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', out, '127.0.0.1', String(port)]);
  const s = (performance.now() - t0) / 1000;
  const got = createHash('sha256').update(readFileSync(out)).digest('hex');
  if (got !== want) throw new Error(`${client} from port ${port}: checksum mismatch`);
  return SIZE / 1e6 / s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, number[]> = { 'tftpd-hpa curl-1468': [], 'netrestore curl-1468': [], 'netrestore atftp-1468-w16': [] };
try {
  for (let i = 0; i < RUNS; i++) {
    // Alternate who goes first so that neither always gets a warm cache.
    const order: [string, Client, number][] = [
      ['tftpd-hpa curl-1468', 'curl-1468', HPA_PORT],
      ['netrestore curl-1468', 'curl-1468', NR_PORT],
      ['netrestore atftp-1468-w16', 'atftp-1468-w16', NR_PORT],
    ];
    for (const [name, client, port] of i % 2 ? order.reverse() : order) results[name]!.push(await fetch(client, port));
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(`TFTP, ${SIZE / 1e6} MB on loopback, median of ${RUNS} runs (MB/s):`);
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(28)} ${v!.toFixed(2)}`);
  const r1 = m['netrestore curl-1468']! / m['tftpd-hpa curl-1468']!;
  const r2 = m['netrestore atftp-1468-w16']! / m['tftpd-hpa curl-1468']!;
  console.log(`ratio netrestore/tftpd-hpa, curl blksize 1468:          ${r1.toFixed(2)} (goal >= 1.0)`);
  console.log(`ratio netrestore windowsize 16 / tftpd-hpa blksize 1468: ${r2.toFixed(2)} (goal >= 3.0)`);
} finally {
  hpa.kill();
  nr.kill();
  await Promise.allSettled([hpa, nr]);
  rmSync(dir, { recursive: true, force: true });
}
