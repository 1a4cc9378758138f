/**
 * bench/images: images of what the filesystems use, against partclone.
 *
 * For each filesystem, one disk (GPT, one partition) whose free space is full
 * of old data (random bytes written before mkfs) and whose live files fill
 * `--live` percent of it (half random, half text), side by side:
 *   - bytes stored: `netrestore publish --no-minimal` against
 *     `partclone.TYPE -c | zstd -3 -T0` of the same partition (goal:
 *     netrestore <= 1.0x partclone), and what the minimal form adds;
 *   - restore time over a 1 Gbit/s link (two network namespaces, a veth
 *     pair shaped by tc tbf): `netrestore restore` (every chunk checked, read
 *     back) against `curl | zstd -d | partclone.restore` (goal >= 1.0x);
 *   - for ext4, the restore of the same disk published whole (`--raw`, what
 *     every image was before used-block maps) against the mapped one (goal:
 *     mapped <= 0.35x the whole-disk time at 25 % live data).
 *
 *   sudo node bench/images.ts [--size-mib 1024] [--live 25] [--fs ext4,ntfs,fat32,exfat,xfs,btrfs] [--rounds 3] [--link-mbit 1000]
 * Needs root (loop devices, namespaces) and the Debian packages of the test
 * suite (.ci/apt-packages.txt: partclone, zstd, curl, busybox …).
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLan, netnsAvailable, type Lan } from '../src/drill/netns.ts';
import { makeDisk, withLoop, type TestDisk, type TestFile, type TestFs } from '../test/helpers/fs-disks.ts';
import { median, timed } from './lib.ts';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    live: { type: 'string', default: '25' },
    fs: { type: 'string', default: 'ext4,ntfs,fat32,exfat,xfs,btrfs' },
    rounds: { type: 'string', default: '3' },
    'link-mbit': { type: 'string', default: '1000' },
  },
});
const MiB = 1024 * 1024;
const SIZE_MIB = Number(values['size-mib']);
const LIVE = Number(values.live) / 100;
const ROUNDS = Number(values.rounds);
const LINK_MBIT = Number(values['link-mbit']);
const FILESYSTEMS = values.fs.split(',') as TestFs[];
const BIN = join(import.meta.dirname, '../bin/netrestore');
const TOKEN = 'bench-token-0123456789';
const PORT = 18383;
const SRV = '10.204.0.1';
const TOOL: Partial<Record<TestFs, string>> = { ext4: 'extfs', ntfs: 'ntfs', fat32: 'fat', fat16: 'fat', exfat: 'exfat', xfs: 'xfs', btrfs: 'btrfs' };

if (process.getuid?.() !== 0 || !netnsAvailable()) {
  console.error('bench/images needs root: loop devices for partclone and network namespaces for the 1 Gbit/s link');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'nr-bench-images-'));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Live files: 8 MiB each, alternately random and text (a server's mix of compressed and plain data). */
function liveFiles(totalMiB: number): TestFile[] {
  const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `${i}\tINFO\tservice started, pid ${i * 7}, config /etc/app.conf\n`).join(''));
  const files: TestFile[] = [];
  for (let i = 0; i * 8 < totalMiB; i++) {
    const size = Math.min(8, totalMiB - i * 8) * MiB;
    const data = i % 2 ? Buffer.concat(Array.from({ length: Math.ceil(size / text.length) }, () => text)).subarray(0, size) : randomBytes(size);
    files.push({ path: `data/file-${i}.bin`, data });
  }
  return files;
}

/** A fresh target the size of the disk, after a sync: no run pays for another's writeback. */
async function freshTarget(path: string, size: number): Promise<void> {
  rmSync(path, { force: true });
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  await execa('sync');
}

interface Row {
  fs: TestFs;
  ours: number;
  peer: number;
  /** What the minimal form adds to the store. */
  minimal: number;
  restore?: number;
  peerRestore?: number;
}

const rows: Row[] = [];
let lan: Lan | undefined;
let server: ReturnType<typeof execa> | undefined;
let httpd: ReturnType<typeof execa> | undefined;
try {
  const store = join(dir, 'store');
  const www = join(dir, 'www');
  mkdirSync(www);
  const disks = new Map<TestFs, TestDisk>();
  for (const fs of FILESYSTEMS) {
    console.log(`${fs}: a ${SIZE_MIB} MiB partition, old data in its free space, ${Math.round(LIVE * 100)} % live files`);
    const disk = await makeDisk(dir, { table: 'gpt', name: fs, partitions: [{ fs, sizeMiB: SIZE_MIB, files: liveFiles(Math.round(SIZE_MIB * LIVE)) }] });
    disks.set(fs, disk);
    const p = disk.partitions[0]!;
    // The full form alone is what compares with partclone's image; the minimal form (a shrunk
    // copy for smaller disks) is published apart, into a store of its own, to show what it adds.
    const stored = async (args: string[]) => Number((JSON.parse((await execa(BIN, ['publish', disk.path, '--json', ...args])).stdout) as { bytesStored: number }).bytesStored);
    const ours = await stored(['--name', fs, '--images', store, '--no-minimal']);
    const withMinimal = await stored(['--name', fs, '--images', join(dir, `store-minimal-${fs}`)]);
    const peerFile = join(www, `${fs}.pc.zst`);
    await withLoop(disk.path, { offset: p.start, size: p.size, readOnly: true }, (dev) =>
      execa('sh', ['-c', `partclone.${TOOL[fs]} -q -c -s ${dev} -o - 2>/dev/null | zstd -q -3 -T0 > ${peerFile}`]),
    );
    const peer = Number((await execa('stat', ['-c', '%s', peerFile])).stdout);
    console.log(`  stored: netrestore ${mb(ours)}, partclone.${TOOL[fs]} -c | zstd -3 -T0 ${mb(peer)}; the minimal form adds ${mb(withMinimal - ours)}`);
    rows.push({ fs, ours, peer, minimal: withMinimal - ours });
  }
  const ext4 = disks.get('ext4');
  if (ext4) await execa(BIN, ['publish', ext4.path, '--name', 'ext4-raw', '--raw', '--images', store]);

  // The link: the server and busybox httpd (the peer's file server, a C program) in one namespace, the restores in the other.
  lan = await createLan({ srv: `${SRV}/24`, cli: '10.204.0.2/24' }, { prefix: 'nrbi' });
  for (const host of ['srv', 'cli']) await execa('ip', ['netns', 'exec', lan.ns(host), 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', `${LINK_MBIT}mbit`, 'burst', '512kb', 'latency', '50ms']);
  const inNs = (host: string) => (cmd: string, args: string[]) => execa('ip', ['netns', 'exec', lan!.ns(host), cmd, ...args]);
  server = execa('ip', ['netns', 'exec', lan.ns('srv'), BIN, 'serve', '--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', SRV, '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN, '--log-level', 'warn'], { reject: false });
  httpd = execa('ip', ['netns', 'exec', lan.ns('srv'), 'busybox', 'httpd', '-f', '-p', `${SRV}:${PORT + 1}`, '-h', www], { reject: false });
  for (let i = 0; ; i++) {
    const up = await inNs('cli')('curl', ['-sf', '-o', '/dev/null', '-H', `Authorization: Bearer ${TOKEN}`, `http://${SRV}:${PORT}/api/images`]).then(() => true, () => false);
    if (up) break;
    if (i === 100) throw new Error('netrestore serve did not answer within 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  const target = join(dir, 'target.raw');
  const restore = (image: string) => inNs('cli')(BIN, ['restore', '--server', `http://${SRV}:${PORT}`, '--token', TOKEN, '--image', image, '--target', target, '--yes']);
  let rawTimes: number[] = [];
  let ext4Times: number[] = [];
  for (const row of rows) {
    const disk = disks.get(row.fs)!;
    const p = disk.partitions[0]!;
    const ours: number[] = [];
    const peer: number[] = [];
    console.log(`${row.fs}: restores over ${LINK_MBIT} Mbit/s, ${ROUNDS} alternating rounds`);
    for (let round = 0; round < ROUNDS; round++) {
      const runOurs = async () => {
        await freshTarget(target, disk.size);
        ours.push(await timed('netrestore restore (verified)', () => restore(row.fs)));
      };
      const runPeer = async () => {
        await freshTarget(target, disk.size);
        peer.push(
          await timed(`curl | zstd -d | partclone.restore`, () =>
            withLoop(target, { offset: p.start, size: p.size }, (dev) =>
              inNs('cli')('sh', ['-c', `curl -sS http://${SRV}:${PORT + 1}/${row.fs}.pc.zst | zstd -q -d | partclone.restore -q -C -s - -o ${dev} 2>/dev/null && sync`]),
            ),
          ),
        );
      };
      for (const r of round % 2 ? [runPeer, runOurs] : [runOurs, runPeer]) await r();
    }
    row.restore = median(ours);
    row.peerRestore = median(peer);
    if (row.fs === 'ext4') {
      ext4Times = ours;
      rawTimes = [];
      for (let round = 0; round < ROUNDS; round++) {
        await freshTarget(target, disk.size);
        rawTimes.push(await timed('netrestore restore of the whole-disk (--raw) image', () => restore('ext4-raw')));
      }
    }
  }

  console.log('\nresults (medians):');
  console.log(`  ${'fs'.padEnd(7)} ${'netrestore'.padStart(12)} ${'partclone+zstd'.padStart(15)} ${'ratio'.padStart(6)}   ${'restore'.padStart(8)} ${'partclone'.padStart(10)} ${'ratio'.padStart(6)}`);
  for (const r of rows) {
    console.log(
      `  ${r.fs.padEnd(7)} ${mb(r.ours).padStart(12)} ${mb(r.peer).padStart(15)} ${(r.ours / r.peer).toFixed(2).padStart(6)}   ${`${r.restore!.toFixed(2)} s`.padStart(8)} ${`${r.peerRestore!.toFixed(2)} s`.padStart(10)} ${(r.peerRestore! / r.restore!).toFixed(2).padStart(6)}`,
    );
  }
  console.log('ratios:');
  console.log(`  stored bytes, netrestore / partclone+zstd: ${rows.map((r) => `${r.fs} ${(r.ours / r.peer).toFixed(2)}`).join(', ')} (goal <= 1.0 each)`);
  console.log(`  the same with the minimal form stored too: ${rows.map((r) => `${r.fs} ${((r.ours + r.minimal) / r.peer).toFixed(2)}`).join(', ')}`);
  console.log(`  restore speed over ${LINK_MBIT} Mbit/s, netrestore / curl|zstd|partclone.restore: ${rows.map((r) => `${r.fs} ${(r.peerRestore! / r.restore!).toFixed(2)}`).join(', ')} (goal >= 1.0)`);
  if (rawTimes.length) console.log(`  ext4 at ${Math.round(LIVE * 100)} % live: mapped restore / whole-disk restore: ${(median(ext4Times) / median(rawTimes)).toFixed(2)} (${median(ext4Times).toFixed(2)} s / ${median(rawTimes).toFixed(2)} s; goal <= 0.35)`);
} finally {
  server?.kill();
  httpd?.kill();
  await Promise.all([server, httpd].map((p) => p?.catch(() => undefined)));
  await lan?.destroy();
  rmSync(dir, { recursive: true, force: true });
}
