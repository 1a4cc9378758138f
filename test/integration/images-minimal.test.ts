/**
 * The minimal form end to end, through the real CLI and HTTP: publishing a
 * GPT disk whose last partition is ext4 stores a second, smaller form (its
 * chunks shared with the full form's where equal, kept by gc, checked by
 * verify); a restore onto a disk between that form and the source restores
 * it and grows it to fill the disk (table, filesystem and files all sound);
 * a disk below the minimal form is refused naming both sizes; a btrfs
 * image's form is shrunk while mounted and grows back the same way; an XFS
 * image says in `images show` why it has no minimal form.
 */
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { parseManifest, type Manifest } from '../../src/shared/format.ts';
import { checkFilesystem, expectedFiles, makeDisk, MiB, readFilesBack, withLoop, type TestDisk, type TestPartition } from '../helpers/fs-disks.ts';

const PORT = 18197;
const TOKEN = 'test-admin-token-minimal-0123';
const SERVER = `http://127.0.0.1:${PORT}`;
const dir = mkdtempSync(join(tmpdir(), 'nr-images-minimal-'));
const store = join(dir, 'store');
let served: Served;
let disk: TestDisk;
let m: Manifest;

const nr = (args: string[]) => execa(BIN, args, { reject: false, all: true, env: {} });
const json = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>;
const serveArgs = ['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN];
const restoreArgs = (image: string, target: string) => ['restore', '--server', SERVER, '--token', TOKEN, '--image', image, '--target', target, '--json', '--yes'];
const readManifest = (name: string) => parseManifest(readFileSync(join(store, 'manifests', `${name}.json`), 'utf8'), name);

beforeAll(async () => {
  disk = await makeDisk(dir, { table: 'gpt', name: 'ext', partitions: [{ fs: 'ext4', sizeMiB: 16 }, { fs: 'ext4', sizeMiB: 128 }] });
  const r = await nr(['publish', disk.path, '--name', 'ext', '--chunk-size', '1', '--images', store, '--json']);
  expect(r.exitCode, r.all).toBe(0);
  m = readManifest('ext');
  served = await startServe(serveArgs);
  await served.waitFor('http.listening');
}, 240_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an ext4 image\'s minimal form', () => {
  it('is stored with the image: smaller than the source, the smallest target, sharing the full form\'s equal chunks', async () => {
    const mf = m.minimal!;
    expect(mf, JSON.stringify(m.minimalReason)).toBeDefined();
    expect(mf.size).toBeLessThan(m.source.size);
    expect(m.minTargetBytes).toBe(mf.size);
    // The shrunk copy was a temporary file: gone.
    expect(readdirSync(join(store, 'tmp')).filter((f) => f.startsWith('minimal-'))).toEqual([]);
    // The first partition is unchanged: its chunks are the full form's, stored once.
    const full = new Set(m.chunks.filter(Boolean));
    expect(mf.chunks.filter((h) => h && full.has(h)).length).toBeGreaterThanOrEqual(15);
    const last = mf.partitionTable.partitions.find((p) => p.index === 2)!;
    expect(last.size).toBeLessThan(128 * MiB);
    expect(mf.partitions.find((u) => u.index === 2)?.mapped).toBe(true);
    // gc keeps the minimal form's chunks; verify reads them and its checksum.
    expect((await nr(['images', 'gc', '--images', store])).exitCode).toBe(0);
    const v = await nr(['images', 'verify', 'ext', '--images', store, '--json']);
    expect(v.exitCode, v.all).toBe(0);
    const show = await nr(['images', 'show', 'ext', '--images', store, '--json']);
    expect(json(show.stdout.replace(/\n/g, ''))).toMatchObject({ minimalBytes: mf.size, minTargetBytes: mf.size });
    const text = await nr(['images', 'show', 'ext', '--images', store]);
    expect(text.stdout).toContain(`minimal form: `);
    expect(text.stdout).toContain(`(${mf.size} bytes)`);
  });

  it('restores onto a disk between the minimal form and the source, grown to fill it', async () => {
    const size = Math.floor((m.minimal!.size + m.source.size) / 2 / MiB) * MiB;
    expect(size).toBeGreaterThan(m.minimal!.size);
    expect(size).toBeLessThan(m.source.size);
    const target = join(dir, 'between.raw');
    await execa('truncate', ['-s', String(size), target]);
    const r = await nr(restoreArgs('ext', target));
    expect(r.exitCode, r.all).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, minimalForm: true, grown: true, verified: true });
    expect(readFileSync(target).length).toBe(size);
    const verify = await execa('sfdisk', ['--verify', target], { reject: false, all: true });
    expect(verify.exitCode, verify.all).toBe(0);
    expect(verify.all).toMatch(/No errors detected/);
    const table = JSON.parse((await execa('sfdisk', ['-J', target])).stdout) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
    const ss = table.partitiontable.sectorsize ?? 512;
    const parts: TestPartition[] = table.partitiontable.partitions.map((p, i) => ({ index: i + 1, fs: 'ext4', start: p.start * ss, size: p.size * ss }));
    const last = parts[1]!;
    // The last partition reaches the end of the disk, less GPT's backup (and alignment).
    expect(last.start + last.size).toBeGreaterThan(size - MiB - 33 * 512);
    // Its filesystem fills it.
    const fsBytes = await withLoop(target, { offset: last.start, size: last.size, readOnly: true }, async (dev) => {
      const out = (await execa('dumpe2fs', ['-h', dev])).stdout;
      return Number(/^Block count:\s+(\d+)/m.exec(out)![1]) * Number(/^Block size:\s+(\d+)/m.exec(out)![1]);
    });
    expect(fsBytes).toBeGreaterThan(last.size - MiB);
    expect(fsBytes).toBeLessThanOrEqual(last.size);
    expect(fsBytes).toBeGreaterThan(m.minimal!.partitionTable.partitions.find((p) => p.index === 2)!.size);
    for (const p of parts) {
      const check = await checkFilesystem(target, p);
      expect(check.ok, check.output).toBe(true);
      expect(await readFilesBack(target, p)).toEqual(expectedFiles(disk, p.index));
    }
  });

  it('refuses a disk below the minimal form, naming both sizes', async () => {
    const size = m.minimal!.size - MiB;
    const target = join(dir, 'tiny.raw');
    await execa('truncate', ['-s', String(size), target]);
    const r = await nr(restoreArgs('ext', target));
    expect(r.exitCode).toBe(1);
    const error = String(json(r.stdout).error);
    expect(error).toContain(`(${size} bytes)`);
    expect(error).toContain(`(${m.minimal!.size} bytes)`);
  });
});

describe('a btrfs image\'s minimal form', () => {
  it('shrinks the copy while mounted; a restore onto a disk between the forms grows it back to fill, btrfs check clean, every file read back', async () => {
    const btrfs = await makeDisk(dir, { table: 'gpt', name: 'btrfs', partitions: [{ fs: 'ext4', sizeMiB: 8 }, { fs: 'btrfs', sizeMiB: 512 }] });
    const r = await nr(['publish', btrfs.path, '--name', 'btrfs', '--images', store, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const b = readManifest('btrfs');
    expect(b.minimal, b.minimalReason).toBeDefined();
    expect(b.minTargetBytes).toBe(b.minimal!.size);
    expect(b.minimal!.size).toBeLessThan(b.source.size - 128 * MiB);

    const size = Math.floor((b.minimal!.size + b.source.size) / 2 / MiB) * MiB;
    const target = join(dir, 'btrfs-between.raw');
    await execa('truncate', ['-s', String(size), target]);
    const restored = await nr(restoreArgs('btrfs', target));
    expect(restored.exitCode, restored.all).toBe(0);
    expect(json(restored.stdout)).toMatchObject({ ok: true, minimalForm: true, grown: true, verified: true });
    const table = JSON.parse((await execa('sfdisk', ['-J', target])).stdout) as { partitiontable: { partitions: { start: number; size: number }[] } };
    const parts: TestPartition[] = table.partitiontable.partitions.map((p, i) => ({ index: i + 1, fs: i === 0 ? 'ext4' : 'btrfs', start: p.start * 512, size: p.size * 512 }));
    const last = parts[1]!;
    // The filesystem fills its grown partition: the device size btrfs records.
    const fsBytes = await withLoop(target, { offset: last.start, size: last.size, readOnly: true }, async (dev) => {
      const out = (await execa('btrfs', ['inspect-internal', 'dump-super', dev])).stdout;
      return Number(/^dev_item\.total_bytes\s+(\d+)/m.exec(out)![1]);
    });
    expect(fsBytes).toBeGreaterThan(last.size - MiB);
    expect(fsBytes).toBeGreaterThan(b.minimal!.partitionTable.partitions.find((p) => p.index === 2)!.size);
    for (const p of parts) {
      const check = await checkFilesystem(target, p);
      expect(check.ok, check.output).toBe(true);
      expect(await readFilesBack(target, p)).toEqual(expectedFiles(btrfs, p.index));
    }
  }, 240_000);
});

describe('an image without a minimal form', () => {
  it('says why for XFS, and --no-minimal makes none', async () => {
    const xfs = await makeDisk(dir, { table: 'gpt', name: 'xfs', partitions: [{ fs: 'xfs', sizeMiB: 64 }] });
    const r = await nr(['publish', xfs.path, '--name', 'xfs', '--chunk-size', '1', '--images', store, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    expect(json(r.stdout)).toMatchObject({ minimalReason: expect.stringMatching(/XFS cannot shrink/) });
    const show = await nr(['images', 'show', 'xfs', '--images', store, '--json']);
    const shown = JSON.parse(show.stdout) as Record<string, unknown>;
    expect(shown.minimalReason).toMatch(/XFS cannot shrink/);
    expect(shown.minimal).toBeUndefined();
    expect((await nr(['images', 'show', 'xfs', '--images', store])).stdout).toMatch(/no minimal form: XFS cannot shrink/);

    const no = await nr(['publish', disk.path, '--name', 'ext-plain', '--no-minimal', '--chunk-size', '1', '--images', store, '--json']);
    expect(no.exitCode, no.all).toBe(0);
    const plain = readManifest('ext-plain');
    expect(plain.minimal).toBeUndefined();
    expect(plain.minimalReason).toMatch(/--no-minimal/);
    expect(plain.minTargetBytes).toBeGreaterThan(m.minTargetBytes);
  }, 120_000);
});
