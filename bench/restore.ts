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
 *   - the new bytes a second publish of the unchanged disk stores.
 *
 * The restores run in alternating rounds (medians), each after a sync. The
 * agent reads the disk with O_DIRECT, so no run is helped by what an earlier
 * one left in the page cache: the delta reads the disk as it would on a
 * server that has just booted the restore environment.
 *
 *   node bench/restore.ts [--size-mib 2048] [--rounds 5]
 * Needs: curl, zstd, busybox (Debian packages). The peer's file comes from
 * busybox httpd, a C server in a process of its own, so that the peer is not
 * slowed by a server in this script's event loop.
 */
import { execa } from 'execa';
import { linkSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '2048' }, rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const MiB = 1024 * 1024;
const SIZE = Number(values['size-mib']) * MiB;
const BIN = join(import.meta.dirname, '../bin/netrestore');
const TOKEN = 'bench-token-0123456789';
const PORT = 18282;
const dir = mkdtempSync(join(tmpdir(), 'nr-bench-restore-'));

/** Wait until `url` answers 200, or say which server did not start (a port taken by another one, say). */
async function ready(url: string, proc: ReturnType<typeof execa>, what: string): Promise<void> {
  let exit: number | undefined;
  void proc.then((r) => (exit = r.exitCode ?? -1));
  for (let i = 0; i < 100; i++) {
    if (exit !== undefined) throw new Error(`${what} stopped before answering (exit ${exit}); is port ${new URL(url).port} in use?`);
    const ok = await fetch(url, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer ${url} within 10 s`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(what: string, f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  const s = (performance.now() - t0) / 1000;
  console.log(`  ${what.padEnd(52)} ${s.toFixed(2)} s`);
  return s;
}

function makeDisk(path: string): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, SIZE);
  const block = 4 * MiB;
  for (let off = 0; off < SIZE / 2; off += block) writeSync(fd, randomBytes(block), 0, block, off);
  const text = Buffer.from(Array.from({ length: 80_000 }, (_, i) => `${i}\tINFO\tservice started, pid ${i * 7}, config /etc/app.conf\n`).join(''));
  for (let off = SIZE / 2; off < (SIZE * 3) / 4; off += text.length) writeSync(fd, text, 0, Math.min(text.length, (SIZE * 3) / 4 - off), off);
  closeSync(fd); // the last quarter stays zeros
}

const disk = join(dir, 'disk.raw');
const store = join(dir, 'store');
let serve: ReturnType<typeof execa> | undefined;
let files: ReturnType<typeof execa> | undefined;
try {
  console.log(`making a ${SIZE / MiB} MiB disk: half random, a quarter text, a quarter zeros`);
  makeDisk(disk);
  await execa('cat', [disk], { stdout: 'ignore' }); // warm the page cache for both sides alike

  console.log('publish:');
  const tPublish = await timed('netrestore publish', () => execa(BIN, ['publish', disk, '--name', 'bench', '--images', store]));
  const tZstd = await timed('zstd -3 -T0', () => execa('zstd', ['-q', '-3', '-T0', '-f', disk, '-o', join(dir, 'disk.zst')]));
  const again = await execa(BIN, ['publish', disk, '--name', 'bench-again', '--images', store, '--json']);
  const stored = Number((JSON.parse(again.stdout) as { bytesStored: number }).bytesStored);

  serve = execa(BIN, ['serve', '--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN, '--log-level', 'warn'], { reject: false });
  mkdirSync(join(dir, 'www'));
  linkSync(join(dir, 'disk.zst'), join(dir, 'www', 'disk.zst'));
  files = execa('busybox', ['httpd', '-f', '-p', `127.0.0.1:${PORT + 1}`, '-h', join(dir, 'www')], { reject: false });
  await ready(`http://127.0.0.1:${PORT}/api/images`, serve, 'netrestore serve');
  await ready(`http://127.0.0.1:${PORT + 1}/disk.zst`, files, 'busybox httpd');

  // Three rounds, alternating who goes first; before each timed run the previous
  // output is removed and everything is synced, so that no run pays for another's
  // writeback. Medians are compared.
  const target = join(dir, 'restored.raw');
  const piped = join(dir, 'piped.raw');
  const restoreArgs = ['restore', '--server', `http://127.0.0.1:${PORT}`, '--token', TOKEN, '--image', 'bench', '--target', target, '--yes'];
  const fresh = async (path: string) => {
    rmSync(path, { force: true });
    await execa('sync');
  };
  const runs = { restore: [] as number[], pipe: [] as number[], delta: [] as number[], read: [] as number[], noVerify: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    console.log(`restore over HTTP on loopback, round ${round + 1} of ${ROUNDS}:`);
    const restoreRun = async () => {
      await fresh(target);
      runs.restore.push(await timed('netrestore restore (verified)', () => execa(BIN, restoreArgs)));
      await execa('sync');
      runs.delta.push(await timed('netrestore restore, unchanged target (delta)', () => execa(BIN, restoreArgs)));
      runs.read.push(await timed('dd iflag=direct of the target (one read)', () => execa('dd', [`if=${target}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none'])));
      await fresh(target);
      runs.noVerify.push(await timed('netrestore restore --no-verify', () => execa(BIN, [...restoreArgs, '--no-verify'])));
    };
    const pipeRun = async () => {
      await fresh(piped);
      runs.pipe.push(await timed('curl | zstd -d | dd conv=fsync', () => execa('sh', ['-c', `curl -sS http://127.0.0.1:${PORT + 1}/disk.zst | zstd -q -d | dd of=${piped} bs=4M conv=fsync status=none`])));
    };
    for (const run of round % 2 ? [pipeRun, restoreRun] : [restoreRun, pipeRun]) await run();
  }
  const tRestore = median(runs.restore);
  const tPipe = median(runs.pipe);
  const tDelta = median(runs.delta);
  const tRead = median(runs.read);
  const tNoVerify = median(runs.noVerify);
  console.log(`medians: restore ${tRestore.toFixed(2)} s, curl|zstd|dd ${tPipe.toFixed(2)} s, delta ${tDelta.toFixed(2)} s, one read of the target ${tRead.toFixed(2)} s, restore --no-verify ${tNoVerify.toFixed(2)} s`);
  console.log(`all runs: restore ${runs.restore.map((x) => x.toFixed(2)).join(' ')}; curl|zstd|dd ${runs.pipe.map((x) => x.toFixed(2)).join(' ')}`);

  console.log('ratios:');
  console.log(`  restore speed, netrestore / curl|zstd|dd:       ${(tPipe / tRestore).toFixed(2)} (goal >= 1.0)`);
  console.log(`    the same with --no-verify (no read-back):     ${(tPipe / tNoVerify).toFixed(2)}`);
  console.log(`  publish speed, netrestore / zstd -3 -T0:        ${(tZstd / tPublish).toFixed(2)}`);
  console.log(`  delta restore time / full restore time:         ${(tDelta / tRestore).toFixed(2)} (goal <= 0.25)`);
  console.log(`  delta restore time / one read of the target:    ${(tDelta / tRead).toFixed(2)}`);
  console.log(`  second publish of the same disk stores:         ${((100 * stored) / SIZE).toFixed(3)} % new bytes (goal < 1 %)`);
} finally {
  serve?.kill();
  await serve?.catch(() => undefined);
  files?.kill();
  await files?.catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
