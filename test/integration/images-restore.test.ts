/**
 * Images end to end through the real CLI: publish disks made with real tools,
 * serve them over HTTP, restore to blank files and compare whole-disk
 * checksums; damage, delta, a server restart and a killed restore.
 */
import { execa } from 'execa';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestDisk, sha256File } from '../helpers/disks.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';

const PORT = 18181;
const TOKEN = 'test-admin-token-0123';
const SERVER = `http://127.0.0.1:${PORT}`;
const dir = mkdtempSync(join(tmpdir(), 'nr-images-'));
const store = join(dir, 'store');
let served: Served;
let gpt: string;
let mbr: string;

const nr = (args: string[], opts: { reject?: boolean; env?: Record<string, string> } = {}) => execa(BIN, args, { reject: opts.reject ?? false, all: true, env: opts.env ?? {} });
const json = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;
const serveArgs = ['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN, '--log-level', 'debug'];
const restoreArgs = (image: string, target: string, extra: string[] = []) => ['restore', '--server', SERVER, '--token', TOKEN, '--image', image, '--target', target, '--json', ...extra];

beforeAll(async () => {
  gpt = await buildTestDisk(dir, 'gpt');
  mbr = await buildTestDisk(dir, 'mbr', { table: 'mbr' });
  served = await startServe(serveArgs);
  await served.waitFor('http.listening');
}, 120_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('publish and restore round trip', () => {
  it('publishes a GPT disk (FAT32, ext4, NTFS) and restores it identical to a blank file', async () => {
    const p = await nr(['publish', gpt, '--name', 'gpt-server', '--description', 'file server', '--images', store, '--json']);
    expect(p.exitCode, p.all).toBe(0);
    const summary = json(p.stdout);
    expect(summary).toMatchObject({ ok: true, image: 'gpt-server', bytesTotal: 96 * 1024 * 1024 });
    const show = await nr(['images', 'show', 'gpt-server', '--images', store]);
    expect(show.stdout).toMatch(/partition table: gpt/);
    expect(show.stdout).toMatch(/1: .*EFI system\s+fat32/);
    expect(show.stdout).toMatch(/2: .*Linux filesystem\s+ext4/);
    expect(show.stdout).toMatch(/3: .*Microsoft basic data\s+ntfs/);

    const target = join(dir, 'restored-gpt.raw');
    const r = await nr(restoreArgs('gpt-server', target));
    expect(r.exitCode, r.all).toBe(0);
    const s = json(r.stdout);
    expect(s).toMatchObject({ ok: true, image: 'gpt-server', target, bytesTotal: 96 * 1024 * 1024, verified: true });
    for (const k of ['bytesFetched', 'bytesWritten', 'chunksSkipped', 'seconds']) expect(typeof s[k]).toBe('number');
    expect(sha256File(target)).toBe(sha256File(gpt));
    const fsck = await execa('e2fsck', ['-fn', `${target}?offset=${17 * 1024 * 1024}`], { reject: false, all: true });
    expect(fsck.all).not.toMatch(/error/i);
  });

  it('publishes an MBR disk and restores it identical', async () => {
    expect((await nr(['publish', mbr, '--name', 'mbr-server', '--images', store])).exitCode).toBe(0);
    const target = join(dir, 'restored-mbr.raw');
    expect((await nr(restoreArgs('mbr-server', target))).exitCode).toBe(0);
    expect(sha256File(target)).toBe(sha256File(mbr));
  });

  it('publishes a qcow2 file, streamed through qemu-nbd, to the same disk checksum', async () => {
    const qcow = join(dir, 'gpt.qcow2');
    await execa('qemu-img', ['convert', '-O', 'qcow2', gpt, qcow]);
    const p = await nr(['publish', qcow, '--name', 'from-qcow2', '--images', store, '--json']);
    expect(p.exitCode, p.all).toBe(0);
    const a = JSON.parse((await nr(['images', 'show', 'gpt-server', '--images', store, '--json'])).stdout) as { sha256: string };
    const b = JSON.parse((await nr(['images', 'show', 'from-qcow2', '--images', store, '--json'])).stdout) as { sha256: string; source: { format: string }; totals: { stored: number } };
    expect(b.sha256).toBe(a.sha256);
    expect(b.source.format).toBe('qcow2');
    expect(b.totals.stored).toBe(0); // every chunk was already in the store
  });

  it('stores less than 1% new bytes when an unchanged disk is published again', async () => {
    const s = json((await nr(['publish', gpt, '--name', 'gpt-again', '--images', store, '--json'])).stdout);
    expect(Number(s.bytesStored)).toBeLessThan(0.01 * Number(s.bytesTotal));
  });

  it('restores to a larger disk with --no-grow: the layout stays, the GPT backup header moves to its end', async () => {
    const target = join(dir, 'bigger.raw');
    await execa('truncate', ['-s', '128M', target]);
    const s = json((await nr(restoreArgs('gpt-server', target, ['--no-grow']))).stdout);
    expect(s).toMatchObject({ ok: true, verified: true, gptRelocated: true, grown: false });
    const v = await execa('sfdisk', ['--verify', target], { reject: false, all: true });
    expect(v.all).toMatch(/No errors detected/);
    // The 32 MiB the image did not cover is now usable space of the partition table.
    expect(Number(/A total of (\d+) free sectors/.exec(v.all)?.[1])).toBeGreaterThan(65536);
  });

  it('restores to a larger disk and grows the last partition (NTFS) to its end', async () => {
    const target = join(dir, 'grown.raw');
    await execa('truncate', ['-s', '128M', target]);
    const s = json((await nr(restoreArgs('gpt-server', target))).stdout);
    expect(s).toMatchObject({ ok: true, verified: true, grown: true });
    const t = JSON.parse((await execa('sfdisk', ['-J', target])).stdout).partitiontable;
    expect(t.partitions.at(-1).start + t.partitions.at(-1).size - 1).toBe(t.lastlba);
  });

  it('refuses a target smaller than the image, and one that holds data without --yes', async () => {
    const small = join(dir, 'small.raw');
    await execa('truncate', ['-s', '64M', small]);
    const r = await nr(restoreArgs('gpt-server', small, ['--yes']));
    expect(r.exitCode).toBe(1);
    const { minTargetBytes } = JSON.parse((await nr(['images', 'show', 'gpt-server', '--images', store, '--json'])).stdout) as { minTargetBytes: number };
    expect(json(r.stdout).error).toMatch(new RegExp(`holds 64\\.0 MiB \\(67108864 bytes\\), but image gpt-server needs a disk of at least [\\d.]+ MiB \\(${minTargetBytes} bytes\\)`));
    const used = join(dir, 'restored-mbr.raw');
    const again = await nr(restoreArgs('gpt-server', used));
    expect(again.exitCode).toBe(1);
    expect(json(again.stdout).error).toMatch(/holds a partition table: not written; confirm with --yes/);
  });

  it('shows and stores the warning of a domain controller image', async () => {
    const p = await nr(['publish', mbr, '--name', 'dc01', '--role', 'domain-controller', '--images', store]);
    expect(p.stderr).toMatch(/USN rollback/);
    const m = JSON.parse((await nr(['images', 'show', 'dc01', '--images', store, '--json'])).stdout) as { warnings: string[] };
    expect(m.warnings.join(' ')).toMatch(/non-authoritative System State restore/);
    const r = await nr(restoreArgs('dc01', join(dir, 'dc.raw')));
    expect(r.exitCode).toBe(1); // asks for a confirmation; no terminal here
    expect(r.stderr).toMatch(/USN rollback/);
  });
});

describe('delta, damage and interruptions', () => {
  it('after 1% of a restored disk changes, fetches and writes about 1%', async () => {
    const target = join(dir, 'delta.raw');
    expect((await nr(restoreArgs('gpt-server', target))).exitCode).toBe(0);
    // Damage ~1 MiB (1% of 96 MiB) where the ext4 partition (at 17 MiB) keeps its superblock and
    // group descriptors, as a bad update would; damage in its free space would change nothing.
    const fd = openSync(target, 'r+');
    writeSync(fd, randomBytes(1024 * 1024), 0, 1024 * 1024, 17 * 1024 * 1024);
    closeSync(fd);
    const s = json((await nr(restoreArgs('gpt-server', target, ['--yes']))).stdout);
    expect(s.ok).toBe(true);
    expect(Number(s.bytesWritten)).toBeLessThanOrEqual(2 * 4 * 1024 * 1024); // the one or two 4 MiB chunks it touched
    expect(Number(s.bytesWritten)).toBeGreaterThan(0);
    expect(Number(s.chunksSkipped) + Number(s.chunksFree)).toBeGreaterThanOrEqual(22); // free chunks are left alone too
    expect(sha256File(target)).toBe(sha256File(gpt));
  });

  it('finds a flipped byte in a stored chunk (verify names it) and the restore fails with a clear error', async () => {
    expect((await nr(['publish', mbr, '--name', 'to-damage', '--images', store, '--chunk-size', '1'])).exitCode).toBe(0);
    const m = JSON.parse((await nr(['images', 'show', 'to-damage', '--images', store, '--json'])).stdout) as { chunks: (string | null)[] };
    const h = m.chunks.find((c) => c !== null)!;
    const file = join(store, 'chunks', h.slice(0, 2), h.slice(2, 4), `${h}.zst`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(file, bytes);
    const v = await nr(['images', 'verify', 'to-damage', '--images', store]);
    expect(v.exitCode).toBe(1);
    expect(v.stdout).toContain(`chunk ${m.chunks.indexOf(h)} (${h}) is damaged`);
    const r = await nr(restoreArgs('to-damage', join(dir, 'damaged.raw')));
    expect(r.exitCode).toBe(1);
    expect(json(r.stdout)).toMatchObject({ ok: false, verified: false });
    expect(String(json(r.stdout).error)).toMatch(/image to-damage: chunk \d+ .* failed its check twice.*netrestore images verify to-damage/);
  });

  it('reports a truncated manifest as damaged, naming the image', async () => {
    const file = join(store, 'manifests', 'mbr-server.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length / 2));
    const r = await nr(['images', 'show', 'mbr-server', '--images', store]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/the manifest of image mbr-server is not valid JSON .*damaged or truncated/);
    writeFileSync(file, text);
  });

  it('rides out a server restart in the middle of a restore', async () => {
    const big = join(dir, 'random.raw');
    writeFileSync(big, randomBytes(160 * 1024 * 1024));
    expect((await nr(['publish', big, '--name', 'random', '--images', store, '--chunk-size', '1'])).exitCode).toBe(0);
    const target = join(dir, 'restart.raw');
    const from = served.events.length;
    const restoring = nr(restoreArgs('random', target, ['--parallel', '1']));
    await served.waitFor('http.request', (e) => String(e.path).startsWith('/api/chunks/') && served.events.indexOf(e) >= from);
    await served.stop();
    await new Promise((r) => setTimeout(r, 1500));
    served = await startServe(serveArgs);
    const r = await restoring;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/server not answering .*retry/);
    expect(json(r.stdout)).toMatchObject({ ok: true, verified: true });
    expect(sha256File(target)).toBe(sha256File(big));
  });

  it('finishes a restore that was killed halfway when it is run again, skipping what is done', async () => {
    const target = join(dir, 'killed.raw');
    const first = execa(BIN, restoreArgs('random', target, ['--parallel', '1']), { reject: false });
    // Wait until some chunks are on the disk, then kill it hard.
    for (let i = 0; i < 200 && statSync(target, { throwIfNoEntry: false })?.blocks === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 400));
    first.kill('SIGKILL');
    await first;
    const r = await nr(restoreArgs('random', target, ['--yes']));
    const s = json(r.stdout);
    expect(s).toMatchObject({ ok: true, verified: true });
    expect(Number(s.chunksSkipped)).toBeGreaterThan(0);
    expect(sha256File(target)).toBe(sha256File(join(dir, 'random.raw')));
  });
});

describe('store maintenance and the HTTP face', () => {
  it('exports an image as a tar stream and imports it into another store, checked', async () => {
    const tar = join(dir, 'gpt-server.tar');
    const e = await execa('sh', ['-c', `${BIN} images export gpt-server --images ${store} > ${tar}`], { reject: false, all: true });
    expect(e.exitCode, e.all).toBe(0);
    const listing = (await execa('tar', ['tf', tar])).stdout.split('\n');
    expect(listing[0]).toBe('manifest.json');
    const other = join(dir, 'other-store');
    const i = await execa('sh', ['-c', `${BIN} images import --images ${other} < ${tar}`], { reject: false, all: true });
    expect(i.exitCode, i.all).toBe(0);
    expect((await nr(['images', 'verify', 'gpt-server', '--images', other])).exitCode).toBe(0);
    // A truncated archive is refused and leaves no image behind.
    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, readFileSync(tar).subarray(0, statSync(tar).size / 2));
    const third = join(dir, 'third-store');
    const bad = await execa('sh', ['-c', `${BIN} images import --images ${third} < ${cut}`], { reject: false, all: true });
    expect(bad.exitCode).toBe(1);
    expect(bad.all).toMatch(/damaged or truncated|truncated/);
    expect(readdirSync(join(third, 'manifests'))).toEqual([]);
  });

  it('removes an image and only the chunks no other image uses', async () => {
    const before = (await nr(['images', 'verify', 'gpt-again', '--images', store])).exitCode;
    expect(before).toBe(0);
    const rm = await nr(['images', 'rm', 'random', '--images', store]);
    expect(rm.stdout).toMatch(/removed random; 160 unused chunks deleted/);
    const rm2 = await nr(['images', 'rm', 'gpt-server', '--images', store]);
    expect(rm2.stdout).toMatch(/removed gpt-server; 0 unused chunks deleted/); // gpt-again and from-qcow2 share them all
    expect((await nr(['images', 'verify', 'gpt-again', '--images', store])).exitCode).toBe(0);
  });

  it('serves chunks with Range and HEAD, and refuses requests without the token', async () => {
    const m = (await (await fetch(`${SERVER}/api/images/gpt-again`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { chunks: (string | null)[] };
    const h = m.chunks.find((c) => c)!;
    const head = await execa('curl', ['-sSI', '-H', `Authorization: Bearer ${TOKEN}`, `${SERVER}/api/chunks/${h}`]);
    expect(head.stdout).toMatch(/cache-control: public, max-age=31536000, immutable/i);
    const range = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-r', '0-99', '-H', `Authorization: Bearer ${TOKEN}`, `${SERVER}/api/chunks/${h}`]);
    expect(range.stdout).toBe('206 100');
    // A wrong token holds its address back for a while (the login throttle): it comes from another one.
    for (const auth of [[], ['--interface', '127.0.0.2', '-H', 'Authorization: Bearer wrong-token']]) {
      const r = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...auth, `${SERVER}/api/images`]);
      expect(r.stdout).toBe('401');
    }
    const put = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', 'x', `${SERVER}/api/chunks/${h}`]);
    expect(put.stdout).toBe('401');
  });

  it('captures a disk over HTTP; a changed disk uploads only its changes, an unchanged one nothing', async () => {
    const env = { NETRESTORE_TOKEN: TOKEN };
    // 2 MiB chunks: none of them is in the store yet.
    const cap = (source: string, name: string) => nr(['capture', '--server', SERVER, '--source', source, '--name', name, '--json', '--chunk-size', '2'], { env });
    const first = await cap(mbr, 'captured');
    expect(json(first.stdout), first.all).toMatchObject({ ok: true, image: 'captured', bytesTotal: 96 * 1024 * 1024 });
    expect(Number(json(first.stdout).bytesUploaded)).toBeGreaterThan(4 * 1024 * 1024);
    // The same disk after a day of work: 2 MiB of it changed.
    const source = join(dir, 'changed.raw');
    writeFileSync(source, readFileSync(mbr));
    const fd = openSync(source, 'r+');
    writeSync(fd, randomBytes(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 20 * 1024 * 1024);
    closeSync(fd);
    const second = json((await cap(source, 'captured-2')).stdout);
    expect(second.ok).toBe(true);
    expect(Number(second.bytesUploaded)).toBeGreaterThan(2 * 1024 * 1024); // random data does not compress…
    expect(Number(second.bytesUploaded)).toBeLessThan(2.1 * 1024 * 1024); // …and nothing else was sent
    expect(json((await cap(source, 'captured-3')).stdout)).toMatchObject({ ok: true, bytesUploaded: 0 });
    const target = join(dir, 'from-capture.raw');
    const r = await nr(restoreArgs('captured-2', target));
    expect(json(r.stdout).ok, r.all).toBe(true);
    expect(sha256File(target)).toBe(sha256File(source));
  });
});
