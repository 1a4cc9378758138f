/**
 * bench/restore: one run on the same data, a 2 GiB disk (half random, a
 * quarter text, a quarter zeros), side by side:
 *   - netrestore restore over HTTP on loopback (every chunk checked before it
 *     is written, and read back from the disk after) against
 *     `curl | zstd -d | dd` of the same disk as one zstd file; and, to show
 *     what the read-back costs, the same restore with --no-verify;
 *   - netrestore publish against `zstd -3 -T0`;
 *   - a delta restore of an unchanged target against the full restore, and
 *     against reading that target once with `dd iflag=direct` (its floor: a
 *     delta restore reads the whole disk);
 *   - the new bytes a second publish of the unchanged disk stores;
 *   - as root, the restores again over a 1 Gbit/s link (two network
 *     namespaces, a veth pair shaped by tc tbf): on loopback a full restore
 *     runs at the speed of the disk, so a delta that must read the whole disk
 *     cannot be a quarter of it; on a server room's link it can.
 *
 * The restores run in alternating rounds (medians), each after a sync. The
 * agent reads the disk with O_DIRECT, so no run is helped by what an earlier
 * one left in the page cache: the delta reads the disk as it would on a
 * server that has just booted the restore environment.
 *
 *   node bench/restore.ts [--size-mib 2048] [--rounds 5] [--link-mbit 1000]
 * Needs: curl, zstd, busybox (Debian packages); for the link, root and
 * iproute2 (`--link-mbit 0` leaves it out). The peer's file comes from
 * busybox httpd, a C server in a process of its own, so that the peer is not
 * slowed by a server in this script's event loop.
 */
import { execa } from 'execa';
import { linkSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLan, netnsAvailable, type Lan } from '../src/drill/netns.ts';
import { median, timed } from './lib.ts';

const { values } = parseArgs({
  options: { 'size-mib': { type: 'string', default: '2048' }, rounds: { type: 'string', default: '5' }, 'link-mbit': { type: 'string', default: '1000' } },
});
const ROUNDS = Number(values.rounds);
const LINK_MBIT = Number(values['link-mbit']);
const MiB = 1024 * 1024;
const SIZE = Number(values['size-mib']) * MiB;
const BIN = join(import.meta.dirname, '../bin/netrestore');
const TOKEN = 'bench-token-0123456789';
const PORT = 18282;
const dir = mkdtempSync(join(tmpdir(), 'nr-bench-restore-'));

type Run = (cmd: string, args: string[]) => ReturnType<typeof execa>;
const here: Run = (cmd, args) => execa(cmd, args);


function makeDisk(path: string): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, SIZE);
  const block = 4 * MiB;
  for (let off = 0; off < SIZE / 2; off += block) writeSync(fd, randomBytes(block), 0, block, off);
  const text = Buffer.from(Array.from({ length: 80_000 }, (_, i) => `${i}\tINFO\tservice started, pid ${i * 7}, config /etc/app.conf\n`).join(''));
  for (let off = SIZE / 2; off < (SIZE * 3) / 4; off += text.length) writeSync(fd, text, 0, Math.min(text.length, (SIZE * 3) / 4 - off), off);
  closeSync(fd); // the last quarter stays zeros
}

/** The chunk server and the peer's file server, started by `start` (here, or in a namespace). */
async function servers(host: string, start: Run, reach: Run, store: string): Promise<{ server: string; file: string; stop: () => Promise<void> }> {
  const procs = [
    start(BIN, ['serve', '--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', host, '--images', store, '--state', join(dir, `state-${host}.db`), '--admin-token', TOKEN, '--log-level', 'warn']),
    start('busybox', ['httpd', '-f', '-p', `${host}:${PORT + 1}`, '-h', join(dir, 'www')]),
  ];
  const stop = async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.catch(() => undefined)));
  };
  const server = `http://${host}:${PORT}`;
  const file = `http://${host}:${PORT + 1}/disk.zst`;
  try {
    for (const [url, proc, what] of [[`${server}/api/images`, procs[0]!, 'netrestore serve'], [file, procs[1]!, 'busybox httpd']] as const) {
      let exit: number | undefined;
      void proc.then(
        (r) => (exit = r.exitCode ?? -1),
        (e: { exitCode?: number }) => (exit = e.exitCode ?? -1),
      );
      for (let i = 0; ; i++) {
        if (exit !== undefined) throw new Error(`${what} stopped before answering (exit ${exit}); is port ${new URL(url).port} in use?`);
        if (i === 100) throw new Error(`${what} did not answer ${url} within 10 s`);
        const ok = await reach('curl', ['-sf', '-o', '/dev/null', '-I', '-H', `Authorization: Bearer ${TOKEN}`, url]).then(() => true, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, file, stop };
}

interface Runs {
  restore: number[];
  pipe: number[];
  delta: number[];
  read: number[];
  noVerify: number[];
}

/**
 * Rounds alternating who goes first; before each timed run the previous output
 * is removed and everything is synced, so that no run pays for another's
 * writeback. `extras`: also one read of the target and a restore without the read-back.
 */
async function rounds(label: string, n: number, run: Run, server: string, file: string, extras: boolean): Promise<Runs> {
  const target = join(dir, 'restored.raw');
  const piped = join(dir, 'piped.raw');
  const restoreArgs = ['restore', '--server', server, '--token', TOKEN, '--image', 'bench', '--target', target, '--yes'];
  const fresh = async (path: string) => {
    rmSync(path, { force: true });
    await execa('sync');
  };
  const runs: Runs = { restore: [], pipe: [], delta: [], read: [], noVerify: [] };
  for (let round = 0; round < n; round++) {
    console.log(`restore ${label}, round ${round + 1} of ${n}:`);
    const restoreRun = async () => {
      await fresh(target);
      runs.restore.push(await timed('netrestore restore (verified)', () => run(BIN, restoreArgs)));
      await execa('sync');
      runs.delta.push(await timed('netrestore restore, unchanged target (delta)', () => run(BIN, restoreArgs)));
      if (!extras) return;
      runs.read.push(await timed('dd iflag=direct of the target (one read)', () => execa('dd', [`if=${target}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none'])));
      await fresh(target);
      runs.noVerify.push(await timed('netrestore restore --no-verify', () => run(BIN, [...restoreArgs, '--no-verify'])));
    };
    const pipeRun = async () => {
      await fresh(piped);
      runs.pipe.push(await timed('curl | zstd -d | dd conv=fsync', () => run('sh', ['-c', `curl -sS ${file} | zstd -q -d | dd of=${piped} bs=4M conv=fsync status=none`])));
    };
    for (const r of round % 2 ? [pipeRun, restoreRun] : [restoreRun, pipeRun]) await r();
  }
  const all = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  console.log(`all runs ${label}: restore ${all(runs.restore)}; curl|zstd|dd ${all(runs.pipe)}; delta ${all(runs.delta)}`);
  return runs;
}

/** Two namespaces joined by a veth pair whose both ends send at most `mbit`. */
async function shapedLan(mbit: number): Promise<Lan> {
  const lan = await createLan({ srv: '10.203.0.1/24', cli: '10.203.0.2/24' }, { prefix: 'nrb' });
  try {
    // A burst of a few hundred KiB lets tbf reach its rate with the kernel's timer granularity.
    for (const host of ['srv', 'cli']) await execa('ip', ['netns', 'exec', lan.ns(host), 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '512kb', 'latency', '50ms']);
  } catch (err) {
    await lan.destroy();
    throw err;
  }
  return lan;
}

const disk = join(dir, 'disk.raw');
const store = join(dir, 'store');
let stopServers: (() => Promise<void>) | undefined;
let lan: Lan | undefined;
try {
  console.log(`making a ${SIZE / MiB} MiB disk: half random, a quarter text, a quarter zeros`);
  makeDisk(disk);
  await execa('cat', [disk], { stdout: 'ignore' }); // warm the page cache for both sides alike

  console.log('publish:');
  const tPublish = await timed('netrestore publish', () => execa(BIN, ['publish', disk, '--name', 'bench', '--images', store]));
  const tZstd = await timed('zstd -3 -T0', () => execa('zstd', ['-q', '-3', '-T0', '-f', disk, '-o', join(dir, 'disk.zst')]));
  const again = await execa(BIN, ['publish', disk, '--name', 'bench-again', '--images', store, '--json']);
  const stored = Number((JSON.parse(again.stdout) as { bytesStored: number }).bytesStored);
  mkdirSync(join(dir, 'www'));
  linkSync(join(dir, 'disk.zst'), join(dir, 'www', 'disk.zst'));

  const local = await servers('127.0.0.1', (c, a) => execa(c, a, { reject: false }), here, store);
  stopServers = local.stop;
  const loop = await rounds('over HTTP on loopback', ROUNDS, here, local.server, local.file, true);
  await local.stop();
  stopServers = undefined;

  let link: Runs | undefined;
  if (LINK_MBIT > 0 && netnsAvailable()) {
    lan = await shapedLan(LINK_MBIT);
    const inNs = (host: string, o: { reject?: boolean } = {}): Run => (c, a) => execa('ip', ['netns', 'exec', lan!.ns(host), c, ...a], o);
    const far = await servers('10.203.0.1', inNs('srv', { reject: false }), inNs('cli'), store);
    stopServers = far.stop;
    link = await rounds(`over a ${LINK_MBIT} Mbit/s link`, Math.min(ROUNDS, 3), inNs('cli'), far.server, far.file, false);
  } else if (LINK_MBIT > 0) console.log(`(the ${LINK_MBIT} Mbit/s link needs root for its network namespaces: run with sudo to measure it)`);

  const m = (r: Runs) => ({ restore: median(r.restore), pipe: median(r.pipe), delta: median(r.delta) });
  const l = m(loop);
  const tRead = median(loop.read);
  const tNoVerify = median(loop.noVerify);
  console.log(`medians on loopback: restore ${l.restore.toFixed(2)} s, curl|zstd|dd ${l.pipe.toFixed(2)} s, delta ${l.delta.toFixed(2)} s, one read of the target ${tRead.toFixed(2)} s, restore --no-verify ${tNoVerify.toFixed(2)} s`);
  const w = link && m(link);
  if (w) console.log(`medians over ${LINK_MBIT} Mbit/s: restore ${w.restore.toFixed(2)} s, curl|zstd|dd ${w.pipe.toFixed(2)} s, delta ${w.delta.toFixed(2)} s`);

  const ratio = (what: string, value: string) => console.log(`  ${`${what}:`.padEnd(48)} ${value}`);
  console.log('ratios:');
  ratio('restore speed, netrestore / curl|zstd|dd', `${(l.pipe / l.restore).toFixed(2)} (goal >= 1.0)`);
  ratio('  the same with --no-verify (no read-back)', (l.pipe / tNoVerify).toFixed(2));
  if (w) ratio(`  the same over ${LINK_MBIT} Mbit/s`, (w.pipe / w.restore).toFixed(2));
  ratio('publish speed, netrestore / zstd -3 -T0', (tZstd / tPublish).toFixed(2));
  ratio('delta restore time / full restore time', `${(l.delta / l.restore).toFixed(2)} on loopback${w ? `, ${(w.delta / w.restore).toFixed(2)} over ${LINK_MBIT} Mbit/s` : ''} (goal <= 0.25)`);
  ratio('delta restore time / one read of the target', (l.delta / tRead).toFixed(2));
  ratio('second publish of the same disk stores', `${((100 * stored) / SIZE).toFixed(3)} % new bytes (goal < 1 %)`);
} finally {
  await stopServers?.();
  await lan?.destroy();
  rmSync(dir, { recursive: true, force: true });
}
