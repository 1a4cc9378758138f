import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrder } from '../../src/build-env/addons.ts';
import { cpioArchive } from '../../src/build-env/cpio.ts';
import { addonFor, addonMismatch, moduleBaseName, parseAddonsManifest, type AddonsManifest } from '../../src/shared/addons.ts';
import { AddonLoader, kernelKnows } from '../../src/restore-agent/addons.ts';
import { fsStep, planGrow } from '../../src/restore-agent/grow-plan.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';

// Debian 12's 6.1 kernel, as its modules.dep has these lines (order of the file kept).
const DEP = [
  'kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko',
  'kernel/fs/btrfs/btrfs.ko: kernel/crypto/xor.ko kernel/lib/raid6/raid6_pq.ko kernel/lib/zstd/zstd_compress.ko kernel/lib/libcrc32c.ko',
  'kernel/crypto/xor.ko:',
  'kernel/lib/raid6/raid6_pq.ko:',
  'kernel/lib/zstd/zstd_compress.ko:',
  'kernel/lib/libcrc32c.ko:',
  'kernel/drivers/a-b.ko: kernel/drivers/c.ko kernel/drivers/d.ko',
  'kernel/drivers/c.ko: kernel/drivers/d.ko',
  'kernel/drivers/d.ko:',
  'kernel/crypto/crc32c_generic.ko:',
  'kernel/arch/x86/crypto/crc32c-intel.ko:',
  'kernel/crypto/xxhash_generic.ko: kernel/lib/xxhash.ko',
  'kernel/lib/xxhash.ko:',
].join('\n');
// The same kernel's softdeps, aliases and built-in aliases, as far as these modules go.
const SOFTDEP = 'softdep btrfs pre: sha256\nsoftdep btrfs pre: xxhash64\nsoftdep btrfs pre: crypto-crc32c\nsoftdep libcrc32c pre: crc32c\n';
const ALIAS = 'alias crypto-crc32c crc32c_intel\nalias crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\nalias crc32c crc32c_generic\nalias xxhash64 xxhash_generic\nalias sha256 sha256_ssse3\n';
const BUILTIN_MODINFO = 'sha256_generic.alias=crypto-sha256\0sha256_generic.alias=sha256\0sha256_generic.license=GPL\0';
const IDX = { dep: DEP, softdep: SOFTDEP, alias: ALIAS, builtinModinfo: BUILTIN_MODINFO };

describe('the load order of an add-on\'s modules (modules.dep)', () => {
  it('puts every module after the ones it needs, each once', () => {
    expect(loadOrder(['btrfs'], { dep: DEP }).paths).toEqual(['kernel/crypto/xor.ko', 'kernel/lib/raid6/raid6_pq.ko', 'kernel/lib/zstd/zstd_compress.ko', 'kernel/lib/libcrc32c.ko', 'kernel/fs/btrfs/btrfs.ko']);
    expect(loadOrder(['xfs', 'btrfs'], { dep: DEP }).paths).toEqual(['kernel/lib/libcrc32c.ko', 'kernel/fs/xfs/xfs.ko', 'kernel/crypto/xor.ko', 'kernel/lib/raid6/raid6_pq.ko', 'kernel/lib/zstd/zstd_compress.ko', 'kernel/fs/btrfs/btrfs.ko']);
  });

  it('loads a module\'s "pre" softdeps before it: the generic provider of an alias, nothing for one built in', () => {
    // libcrc32c wants crc32c: crc32c_generic (runs on every CPU) rather than crc32c-intel.
    expect(loadOrder(['xfs'], IDX).paths).toEqual(['kernel/crypto/crc32c_generic.ko', 'kernel/lib/libcrc32c.ko', 'kernel/fs/xfs/xfs.ko']);
    // btrfs: sha256 is built in; xxhash64 brings xxhash_generic and its own dependency.
    expect(loadOrder(['btrfs'], IDX).paths).toEqual(['kernel/lib/xxhash.ko', 'kernel/crypto/xxhash_generic.ko', 'kernel/crypto/crc32c_generic.ko', 'kernel/crypto/xor.ko', 'kernel/lib/raid6/raid6_pq.ko', 'kernel/lib/zstd/zstd_compress.ko', 'kernel/lib/libcrc32c.ko', 'kernel/fs/btrfs/btrfs.ko']);
  });

  it('orders a dependency of a dependency before it, whatever order modules.dep lists them in', () => {
    // a-b's line names c before d, but c needs d: d must load first.
    expect(loadOrder(['a-b'], { dep: DEP }).paths).toEqual(['kernel/drivers/d.ko', 'kernel/drivers/c.ko', 'kernel/drivers/a-b.ko']);
  });

  it('says which modules are neither modules nor built in; a built-in one needs nothing', () => {
    expect(loadOrder(['xfs', 'nope'], { dep: DEP, builtin: 'kernel/fs/ext4/ext4.ko\n' })).toEqual({ paths: ['kernel/lib/libcrc32c.ko', 'kernel/fs/xfs/xfs.ko'], missing: ['nope'] });
    expect(loadOrder(['ext4'], { dep: DEP, builtin: 'kernel/fs/ext4/ext4.ko\n' })).toEqual({ paths: [], missing: [] });
  });

  it.runIf(existsSync('/lib/modules/6.1.0-57-amd64/modules.dep'))('orders this machine\'s Debian kernel\'s btrfs after all it needs, its crypto drivers included', () => {
    const lib = '/lib/modules/6.1.0-57-amd64';
    const dep = readFileSync(`${lib}/modules.dep`, 'utf8');
    const { paths, missing } = loadOrder(['btrfs'], { dep, softdep: readFileSync(`${lib}/modules.softdep`, 'utf8'), alias: readFileSync(`${lib}/modules.alias`, 'utf8'), builtinModinfo: readFileSync(`${lib}/modules.builtin.modinfo`, 'latin1') });
    expect(missing).toEqual([]);
    expect(paths.at(-1)).toBe('kernel/fs/btrfs/btrfs.ko');
    for (const m of ['crc32c_generic', 'xxhash_generic', 'blake2b_generic']) expect(paths.some((p) => p.endsWith(`/${m}.ko`)), m).toBe(true);
    expect(paths.some((p) => /sha256/.test(p))).toBe(false);
    for (const [i, p] of paths.entries()) {
      const needs = dep.split('\n').find((l) => l.startsWith(`${p}:`))!.split(':')[1]!.trim().split(/\s+/).filter(Boolean);
      for (const n of needs) expect(paths.indexOf(n), `${n} before ${p}`).toBeLessThan(i);
    }
  });
});

const data = Buffer.from('the add-on bytes');
const sha = createHash('sha256').update(data).digest('hex');
const MANIFEST: AddonsManifest = {
  version: 1,
  kernel: '6.1.0-57-amd64',
  addons: [{ name: 'xfs', fs: 'xfs', file: 'addons/xfs.cpio.zst', bytes: data.length, sha256: sha, modules: ['lib/modules/6.1.0-57-amd64/kernel/fs/xfs/xfs.ko'], tools: { xfs_growfs: 'usr/sbin/xfs_growfs' }, libraryDirs: ['lib/x86_64-linux-gnu'] }],
};

describe('the add-on manifest', () => {
  it('reads a good one and finds the add-on of a filesystem', () => {
    const m = parseAddonsManifest(JSON.stringify(MANIFEST));
    expect(addonFor(m, 'xfs')?.file).toBe('addons/xfs.cpio.zst');
    expect(addonFor(m, 'btrfs')).toBeUndefined();
  });

  it('refuses one of another version, or naming paths outside the add-on', () => {
    expect(() => parseAddonsManifest(JSON.stringify({ ...MANIFEST, version: 2 }))).toThrow(/not version 1/);
    const escape = { ...MANIFEST, addons: [{ ...MANIFEST.addons[0]!, tools: { xfs_growfs: '../../bin/sh' } }] };
    expect(() => parseAddonsManifest(JSON.stringify(escape))).toThrow(/outside the add-on/);
    const absolute = { ...MANIFEST, addons: [{ ...MANIFEST.addons[0]!, modules: ['/lib/modules/x.ko'] }] };
    expect(() => parseAddonsManifest(JSON.stringify(absolute))).toThrow(/outside the add-on/);
    const noHash = { ...MANIFEST, addons: [{ ...MANIFEST.addons[0]!, sha256: 'abc' }] };
    expect(() => parseAddonsManifest(JSON.stringify(noHash))).toThrow(/incomplete/);
  });

  it('accepts the bytes it names and refuses others: a changed byte, a different length', () => {
    const a = MANIFEST.addons[0]!;
    expect(addonMismatch(a, data)).toBeUndefined();
    const tampered = Buffer.from(data);
    tampered.writeUInt8(tampered[0]! ^ 1, 0);
    expect(addonMismatch(a, tampered)).toMatch(/has SHA-256 [0-9a-f]{16}… and the restore environment's manifest says [0-9a-f]{16}…/);
    expect(addonMismatch(a, Buffer.concat([data, Buffer.from('x')]))).toMatch(/is 17 bytes and the restore environment's manifest says 16/);
  });

  it('names modules as /sys/module does', () => {
    expect(moduleBaseName('lib/modules/6.1/kernel/lib/raid6/raid6_pq.ko')).toBe('raid6_pq');
    expect(moduleBaseName('kernel/drivers/usb/storage/usb-storage.ko.xz')).toBe('usb_storage');
  });

  it('reads /proc/filesystems', () => {
    const proc = 'nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\n';
    expect(kernelKnows(proc, 'xfs')).toBe(true);
    expect(kernelKnows(proc, 'btrfs')).toBe(false);
    expect(kernelKnows(proc, 'fs')).toBe(false);
  });
});

describe('the grow plan of XFS and btrfs', () => {
  it('mounts them and runs their own tool on the mount point', () => {
    const x = fsStep('xfs');
    expect('step' in x && x.step.mount).toBe('xfs');
    expect('step' in x && x.step.runs.map((r) => r.argv)).toEqual([['xfs_growfs', '{mnt}']]);
    const b = fsStep('btrfs');
    expect('step' in b && b.step.runs.map((r) => r.argv)).toEqual([['btrfs', 'filesystem', 'resize', 'max', '{mnt}']]);
  });

  it('grows an XFS last partition of a GPT disk onto twice the size', () => {
    const MiB = 1024 * 1024;
    const plan = planGrow({ table: { type: 'gpt', partitions: [{ index: 1, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', start: MiB, size: 318 * MiB }] }, uses: [{ index: 1, fs: 'xfs' }], sourceBytes: 320 * MiB, targetBytes: 640 * MiB, sectorSize: 512, targetSectorSize: 512 });
    expect(plan).toMatchObject({ action: 'grow', index: 1, start: 2048, fromSectors: 318 * 2048, toSectors: 640 * 2048 - 34 - 2048 + 1, step: { mount: 'xfs' } });
    expect(plan).not.toHaveProperty('warning');
  });
});

describe('fetching an add-on (AddonLoader)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nr-addon-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // An add-on archive as build-env makes it: a tool and a library; no modules (the kernel "knows" the filesystem below).
  const archive = zstdCompressSync(Buffer.concat(cpioArchive([
    { type: 'dir', path: 'usr' },
    { type: 'dir', path: 'usr/sbin' },
    { type: 'file', path: 'usr/sbin/xfs_growfs', data: Buffer.from('#!/bin/sh\necho grown\n'), mode: 0o755 },
    { type: 'dir', path: 'lib' },
    { type: 'dir', path: 'lib/x86_64-linux-gnu' },
    { type: 'file', path: 'lib/x86_64-linux-gnu/liburcu.so.8', data: Buffer.from('lib'), mode: 0o755 },
  ])));
  const manifest: AddonsManifest = { ...MANIFEST, addons: [{ ...MANIFEST.addons[0]!, modules: [], bytes: archive.length, sha256: createHash('sha256').update(archive).digest('hex') }] };
  const manifestPath = join(dir, 'addons.json');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const proc = join(dir, 'filesystems');
  writeFileSync(proc, '\text4\n\txfs\n');
  const base = { manifestPath, procFilesystems: proc, path: join(dir, 'nothing-here'), kernel: async () => '6.1.0-57-amd64' };

  it('fetches, checks and unpacks it once, and runs the tool from it', async () => {
    const asked: string[] = [];
    const loader = new AddonLoader({ ...base, fetch: async (f) => (asked.push(f), archive) });
    const env = await loader.ready('xfs', 'xfs_growfs');
    const tool = join(env!.PATH!.split(':')[0]!, 'xfs_growfs');
    expect(readFileSync(tool, 'utf8')).toContain('echo grown');
    expect(statSync(tool).mode & 0o777).toBe(0o755);
    expect(env!.LD_LIBRARY_PATH!.split(':')[0]).toMatch(/netrestore-addon-xfs-.*\/lib\/x86_64-linux-gnu$/);
    await loader.ready('xfs', 'xfs_growfs');
    expect(asked).toEqual(['addons/xfs.cpio.zst']);
  });

  it('fetches nothing where the kernel knows the filesystem and the tool is on PATH', async () => {
    const bin = join(dir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    writeFileSync(join(dir, 'bin-marker'), '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin);
    writeFileSync(join(bin, 'xfs_growfs'), '');
    const loader = new AddonLoader({ ...base, path: bin, fetch: async () => { throw new Error('must not fetch'); } });
    expect(await loader.ready('xfs', 'xfs_growfs')).toBeUndefined();
  });

  it('fetches nothing outside the restore environment (no manifest)', async () => {
    const loader = new AddonLoader({ ...base, manifestPath: join(dir, 'none.json'), fetch: async () => { throw new Error('must not fetch'); } });
    expect(await loader.ready('xfs', 'xfs_growfs')).toBeUndefined();
  });

  it('refuses a tampered add-on, says a missing one, a missing add-on for the filesystem, and another kernel', async () => {
    const tampered = Buffer.from(archive);
    tampered.writeUInt8(tampered.at(-1)! ^ 0xff, tampered.length - 1);
    const said = async (l: AddonLoader, fs = 'xfs') => l.ready(fs, fs === 'xfs' ? 'xfs_growfs' : 'btrfs').then(() => 'no error', (e: Error) => (isNetrestoreError(e, 'GROW_FAILED') ? e.message : `wrong error: ${e.message}`));
    expect(await said(new AddonLoader({ ...base, fetch: async () => tampered }))).toMatch(/^the xfs add-on was refused: addons\/xfs\.cpio\.zst has SHA-256 .* run `netrestore build-env` again$/);
    expect(await said(new AddonLoader({ ...base, fetch: async () => { throw new Error('the service has no addons/xfs.cpio.zst in its boot directory'); } }))).toMatch(/^the xfs add-on \(addons\/xfs\.cpio\.zst\) could not be fetched from the service: the service has no/);
    expect(await said(new AddonLoader({ ...base, fetch: async () => archive }), 'btrfs')).toMatch(/has no add-on for btrfs \(its manifest lists xfs\)/);
    expect(await said(new AddonLoader({ ...base, kernel: async () => '6.12.0-1-amd64', fetch: async () => archive }))).toMatch(/modules are for kernel 6\.1\.0-57-amd64 and this restore environment runs 6\.12\.0-1-amd64/);
  });
});
