/**
 * Image format v2 end to end: an ext4 partition whose free space holds
 * random "old data" publishes only what the filesystem uses (its map read
 * here from dumpe2fs's free-block lists, so the test does not depend on
 * partclone), restores through the real CLI and HTTP onto a disk full of other
 * data with the used areas equal and the free ones untouched, or zeroed with
 * --zero-free; a delta restore onto a disk whose free space differs moves
 * nothing; a hand-written v1 manifest still lists, verifies and restores; a
 * missing /dev/sdz and a disk below the image's minimum are refused.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../helpers/disks.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { manifestFree, sha256, type Manifest } from '../../src/shared/format.ts';
import { openRawDisk } from '../../src/shared/disk-reader.ts';
import { mappedUse, type Extent } from '../../src/shared/used-areas.ts';
import { publish } from '../../src/images/publish.ts';
import { FileStore } from '../../src/images/store.ts';
import { listDisks } from '../../src/restore-agent/disks.ts';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { captureJob } from '../../src/restore-agent/jobs.ts';

const MiB = 1024 * 1024;
const PORT = 18191;
const TOKEN = 'test-admin-token-v2-0123';
const SERVER = `http://127.0.0.1:${PORT}`;
const dir = mkdtempSync(join(tmpdir(), 'nr-images-v2-'));
const store = join(dir, 'store');
const DISK = 80 * MiB;
const PART_START = 1 * MiB;
const PART_SIZE = 64 * MiB;
let served: Served;
let disk: string;
let source: Buffer;
let used: Extent[]; // absolute
let m: Manifest;
let usedMap: Awaited<ReturnType<typeof mappedUse>>;

const nr = (args: string[]) => execa(BIN, args, { reject: false, all: true, env: {} });
const json = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;
const serveArgs = ['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN];
const restoreArgs = (image: string, target: string, extra: string[] = []) => ['restore', '--server', SERVER, '--token', TOKEN, '--image', image, '--target', target, '--json', '--yes', ...extra];

/** The used extents of an ext4 image, from dumpe2fs's free-block lists: everything they do not name. */
async function ext4Used(img: string, size: number): Promise<Extent[]> {
  const out = (await execa('dumpe2fs', [img])).stdout;
  const bs = Number(/^Block size:\s+(\d+)/m.exec(out)![1]);
  const free: [number, number][] = [];
  for (const line of out.matchAll(/^\s+Free blocks: (.+)$/gm)) {
    for (const r of line[1]!.split(',').map((x) => x.trim()).filter(Boolean)) {
      const [a, b] = r.split('-').map(Number) as [number, number | undefined];
      free.push([a * bs, ((b ?? a) + 1) * bs]);
    }
  }
  free.sort((x, y) => x[0] - y[0]);
  const usedRel: Extent[] = [];
  let at = 0;
  for (const [s, e] of free) {
    if (s > at) usedRel.push({ start: at, length: s - at });
    at = Math.max(at, e);
  }
  if (at < size) usedRel.push({ start: at, length: size - at });
  return usedRel;
}

/** Each extent's bytes equal in a and b? The first that differs, or undefined. */
function firstDiff(a: Buffer, b: Buffer, extents: Extent[]): number | undefined {
  for (const e of extents) if (!a.subarray(e.start, e.start + e.length).equals(b.subarray(e.start, e.start + e.length))) return e.start;
  return undefined;
}

beforeAll(async () => {
  // The disk: random bytes everywhere (years of old data), an MBR, and an ext4
  // made over a partition that is random too, without discarding it.
  disk = join(dir, 'old-data.raw');
  writeFileSync(disk, randomBytes(DISK));
  await execa('sfdisk', ['-q', '--wipe', 'never', disk], { input: `label: dos\n${PART_START / MiB}M,${PART_SIZE / MiB}M,83\n` });
  const files = join(dir, 'files');
  mkdirSync(join(files, 'etc'), { recursive: true });
  writeFileSync(join(files, 'random.bin'), randomBytes(6 * MiB));
  writeFileSync(join(files, 'etc', 'numbers.txt'), Array.from({ length: 100_000 }, (_, i) => `line ${i}`).join('\n'));
  const part = join(dir, 'p1.img');
  writeFileSync(part, randomBytes(PART_SIZE));
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-E', 'nodiscard', '-d', files, part]);
  await execa('dd', [`if=${part}`, `of=${disk}`, 'bs=1M', `seek=${PART_START / MiB}`, 'conv=notrunc', 'status=none']);
  // Past the partition: zeros, as a disk's unpartitioned tail usually is.
  const fd = openSync(disk, 'r+');
  writeSync(fd, Buffer.alloc(DISK - PART_START - PART_SIZE), 0, DISK - PART_START - PART_SIZE, PART_START + PART_SIZE);
  closeSync(fd);
  source = readFileSync(disk);

  const rel = await ext4Used(part, PART_SIZE);
  const use = mappedUse(1, 'ext4', PART_SIZE, rel);
  usedMap = use;
  used = [{ start: 0, length: PART_START }, ...use.used.map(([s, l]) => ({ start: PART_START + s, length: l }))];
  const fs = await new FileStore(store).init();
  const reader = await openRawDisk(disk);
  try {
    // No minimal form: these tests are about the full form's own smallest target (images-minimal.test.ts has the other).
    m = await publish(reader, fs, { name: 'used-only', chunkSize: MiB, sourcePath: disk, mapUsed: async () => [use], minimal: false });
  } finally {
    await reader.close();
  }
  served = await startServe(serveArgs);
  await served.waitFor('http.listening');
}, 180_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an image of what the filesystem uses', () => {
  it('stores only the used bytes: far below what the whole disk (--raw) stores', async () => {
    const raw = await nr(['publish', disk, '--name', 'whole', '--raw', '--chunk-size', '1', '--images', store, '--json']);
    expect(raw.exitCode, raw.all).toBe(0);
    const whole = json(raw.stdout);
    // Only ~6.5 MiB of files and the metadata are used: the random free space is not stored.
    expect(m.totals.stored).toBeLessThan(0.3 * Number(whole.bytesStored));
    expect(m.totals.free).toBeGreaterThan(40 * MiB);
    expect(m.minTargetBytes).toBe(PART_START + PART_SIZE);

    const show = JSON.parse((await nr(['images', 'show', 'used-only', '--images', store, '--json'])).stdout) as Manifest;
    expect(show.partitions).toEqual([expect.objectContaining({ index: 1, fs: 'ext4', mapped: true, usedBytes: m.partitions[0]!.usedBytes })]);
    expect(show.minTargetBytes).toBe(PART_START + PART_SIZE);
    const wshow = JSON.parse((await nr(['images', 'show', 'whole', '--images', store, '--json'])).stdout) as Manifest;
    expect(wshow.partitions).toEqual([expect.objectContaining({ index: 1, mapped: false, usedBytes: PART_SIZE, reason: expect.stringMatching(/--raw/) })]);
    const human = (await nr(['images', 'show', 'used-only', '--images', store])).stdout;
    expect(human).toMatch(/restores onto a disk of at least 65\.0 MiB \(68157440 bytes\)/);
    expect(human).toMatch(/ 1 {2}ext4 +64\.0 MiB +\d+\.\d MiB {2}mapped, \d+ extents?/);
    const list = (await nr(['images', 'list', '--images', store])).stdout;
    expect(list).toMatch(/NAME .* SIZE .* USED .* STORED/);
    expect((await nr(['images', 'verify', 'used-only', '--images', store])).exitCode).toBe(0);
  });

  it('captures over HTTP uploading only the used bytes, to the same image as publish', async () => {
    const client = new ImagesClient({ server: SERVER, token: TOKEN });
    const raw = await captureJob(client, { source: disk, name: 'captured-raw', chunkSize: MiB, raw: true });
    const c = await captureJob(client, { source: disk, name: 'captured', chunkSize: MiB, mapUsed: async () => [usedMap] });
    expect(c.manifest.partitions).toEqual(m.partitions);
    expect(c.manifest.sha256).toBe(m.sha256);
    expect(c.manifest.chunks).toEqual(m.chunks);
    // Publish stored the used chunks already, so nothing is uploaded; and the capture asked the
    // server only about the chunks with used bytes, where the raw capture asked about the free space too.
    expect(c.bytesUploaded).toBe(0);
    const withData = (x: Manifest) => x.chunks.filter((h) => h !== null).length;
    expect(c.chunksSkipped + c.chunksUploaded).toBe(withData(m));
    expect(raw.chunksSkipped + raw.chunksUploaded).toBe(withData(raw.manifest));
    expect(withData(m)).toBeLessThan(0.3 * withData(raw.manifest));
    expect(raw.manifest.partitions[0]).toMatchObject({ mapped: false, reason: expect.stringMatching(/--raw/) });
  });

  it('restores onto a disk full of other data: used areas equal the source, free areas untouched; --zero-free zeros them', async () => {
    const target = join(dir, 'target.raw');
    const old = randomBytes(DISK);
    writeFileSync(target, old);
    const r = await nr(restoreArgs('used-only', target));
    expect(r.exitCode, r.all).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, verified: true });
    const got = readFileSync(target);
    const free = manifestFree(m);
    expect(free.length).toBeGreaterThan(0);
    expect(firstDiff(got, source, used)).toBeUndefined();
    expect(firstDiff(got, old, free)).toBeUndefined();
    // The filesystem is whole and its files are the source's.
    const p = join(dir, 'restored-p1.img');
    writeFileSync(p, got.subarray(PART_START, PART_START + PART_SIZE));
    const fsck = await execa('e2fsck', ['-fn', p], { reject: false, all: true });
    expect(fsck.exitCode, fsck.all).toBe(0);
    const cat = await execa('debugfs', ['-R', 'cat /random.bin', p], { encoding: 'buffer', reject: false });
    expect(sha256(Buffer.from(cat.stdout))).toBe(sha256(readFileSync(join(dir, 'files', 'random.bin'))));

    // Delta: other old data in the free space, and the disk is still unchanged: nothing fetched, nothing written.
    const fd = openSync(target, 'r+');
    for (const f of free.slice(0, 3)) writeSync(fd, randomBytes(Math.min(f.length, MiB)), 0, Math.min(f.length, MiB), f.start);
    closeSync(fd);
    const d = await nr(restoreArgs('used-only', target));
    expect(json(d.stdout)).toMatchObject({ ok: true, bytesFetched: 0, bytesWritten: 0, chunksWritten: 0, verified: true });

    const z = await nr(restoreArgs('used-only', target, ['--zero-free']));
    expect(json(z.stdout)).toMatchObject({ ok: true, verified: true, chunksFree: 0 });
    const clean = readFileSync(target);
    expect(firstDiff(clean, source, used)).toBeUndefined();
    for (const f of free) expect(clean.subarray(f.start, f.start + f.length).every((b) => b === 0), `free at ${f.start}`).toBe(true);
    expect(sha256(clean)).toBe(m.sha256);
  });

  it('restores onto a disk smaller than the source but not below the minimum; refuses one below, naming both sizes', async () => {
    const small = join(dir, 'small.raw');
    writeFileSync(small, randomBytes(m.minTargetBytes + MiB / 2));
    const r = await nr(restoreArgs('used-only', small));
    expect(r.exitCode, r.all).toBe(0);
    const got = readFileSync(small);
    expect(got.length).toBe(m.minTargetBytes + MiB / 2);
    expect(firstDiff(got, source, used)).toBeUndefined();

    const tiny = join(dir, 'tiny.raw');
    await execa('truncate', ['-s', `${m.minTargetBytes - MiB}`, tiny]);
    const t = await nr(restoreArgs('used-only', tiny));
    expect(t.exitCode).toBe(1);
    expect(String(json(t.stdout).error)).toMatch(/holds 64\.0 MiB \(67108864 bytes\), but image used-only needs a disk of at least 65\.0 MiB \(68157440 bytes\)/);
  });
});

async function loopAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  return (await execa('losetup', ['-f'], { reject: false })).exitCode === 0;
}
const canLoop = await loopAvailable();

describe.runIf(canLoop)('a block device target', () => {
  it('zeros the free space with --zero-free (the device zeroes runs of free chunks itself), used areas equal', async () => {
    const backing = join(dir, 'loop-backing.raw');
    writeFileSync(backing, randomBytes(DISK));
    const loop = (await execa('losetup', ['-f', '--show', backing])).stdout.trim();
    try {
      const r = await nr(restoreArgs('used-only', loop, ['--zero-free']));
      expect(r.exitCode, r.all).toBe(0);
      expect(json(r.stdout)).toMatchObject({ ok: true, verified: true, chunksFree: 0 });
      const got = readFileSync(loop);
      expect(firstDiff(got, source, used)).toBeUndefined();
      expect(sha256(got)).toBe(m.sha256);
      // Again: the disk is right as it is; only the free runs are zeroed anew, nothing is fetched.
      const again = json((await nr(restoreArgs('used-only', loop, ['--zero-free']))).stdout);
      expect(again).toMatchObject({ ok: true, bytesFetched: 0, verified: true });
      // Those runs were zeroed by the device (BLKZEROOUT), not probed: they count as written each time.
      expect(Number(again.bytesWritten)).toBeGreaterThan(30 * MiB);
    } finally {
      await execa('losetup', ['-d', loop], { reject: false });
    }
  });
});

describe('a GPT disk onto a smaller one', () => {
  it('restores onto a disk between the minimum and the source size, and moves the GPT backup to its end', async () => {
    const gpt = join(dir, 'gpt.raw');
    await execa('truncate', ['-s', '80M', gpt]);
    await execa('sfdisk', ['-q', gpt], { input: 'label: gpt\n1M,40M,L\n' });
    const fd = openSync(gpt, 'r+');
    writeSync(fd, randomBytes(40 * MiB), 0, 40 * MiB, MiB);
    closeSync(fd);
    const reader = await openRawDisk(gpt);
    let g: Manifest;
    try {
      g = await publish(reader, await new FileStore(store).init(), { name: 'gpt-small', chunkSize: MiB });
    } finally {
      await reader.close();
    }
    expect(g.minTargetBytes).toBe(41 * MiB + 33 * 512);
    const target = join(dir, 'gpt-target.raw');
    await execa('truncate', ['-s', '48M', target]);
    const r = await nr(restoreArgs('gpt-small', target));
    expect(r.exitCode, r.all).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, verified: true, gptRelocated: true });
    const v = await execa('sfdisk', ['--verify', target], { reject: false, all: true });
    expect(v.all).toMatch(/No errors detected/);
    expect(readFileSync(target).subarray(MiB, 41 * MiB).equals(readFileSync(gpt).subarray(MiB, 41 * MiB))).toBe(true);
  });
});

describe('images of format 1 and targets that are not disks', () => {
  it('lists, verifies and restores a v1 manifest written by hand', async () => {
    const v2 = JSON.parse(readFileSync(join(store, 'manifests', 'whole.json'), 'utf8')) as Record<string, unknown> & { totals: Record<string, number> };
    const { partitions: _p, minTargetBytes: _min, minimalReason: _r, ...rest } = v2;
    const { free: _f, ...totals } = v2.totals;
    writeFileSync(join(store, 'manifests', 'old-format.json'), JSON.stringify({ ...rest, version: 1, name: 'old-format', totals }, null, 1));
    expect((await nr(['images', 'list', '--images', store])).stdout).toMatch(/old-format/);
    expect((await nr(['images', 'verify', 'old-format', '--images', store])).exitCode).toBe(0);
    const show = JSON.parse((await nr(['images', 'show', 'old-format', '--images', store, '--json'])).stdout) as Manifest;
    expect(show).toMatchObject({ minTargetBytes: DISK, partitions: [expect.objectContaining({ mapped: false, reason: expect.stringMatching(/format 1/) })] });
    const target = join(dir, 'v1.raw');
    const r = await nr(restoreArgs('old-format', target));
    expect(r.exitCode, r.all).toBe(0);
    expect(sha256File(target)).toBe(sha256File(disk));
  });

  it('refuses /dev/sdz on a machine without it, naming the disks the machine has, and makes no file there', async () => {
    expect(existsSync('/dev/sdz')).toBe(false);
    const r = await nr(restoreArgs('used-only', '/dev/sdz'));
    expect(r.exitCode).toBe(1);
    const error = String(json(r.stdout).error);
    expect(error).toMatch(/^\/dev\/sdz does not exist: a restore writes to a disk \(a block device\) or to a file outside \/dev/);
    const disks = await listDisks();
    if (disks.length) for (const d of disks) expect(error).toContain(d.path);
    else expect(error).toMatch(/this machine has no disk netrestore can see/);
    expect(existsSync('/dev/sdz')).toBe(false);
    // A regular file under /dev is not a disk either, nor is a directory.
    const dirTarget = await nr(restoreArgs('used-only', dir));
    expect(String(json(dirTarget.stdout).error)).toMatch(/is a directory: a restore writes to a disk/);
  });
});
