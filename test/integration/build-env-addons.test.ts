/**
 * The restore environment's add-ons as `netrestore build-env` makes them:
 * beside the initrd, named with their SHA-256 by the manifest inside the
 * initrd, carrying Debian's signed modules in load order, and tools that
 * run on nothing but the initrd and the add-on.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build-env/build.ts';
import { cpioList } from '../../src/build-env/cpio.ts';
import { moduleSigned } from '../../src/build-env/signatures.ts';
import { ADDONS_MANIFEST, parseAddonsManifest } from '../../src/shared/addons.ts';
import { DIST, ensureBootEnv } from '../helpers/boot-env.ts';

const canBuild = existsSync('/bin/busybox') && existsSync('/usr/lib/ipxe/undionly.kpxe') && existsSync('/lib/modules');

function unpack(entries: { path: string; mode: number; data: Buffer }[], root: string): void {
  for (const e of entries) {
    const to = join(root, e.path);
    const type = e.mode & 0o170000;
    if (type === 0o040000) mkdirSync(to, { recursive: true });
    else if (type === 0o120000) symlinkSync(e.data.toString(), to);
    else if (type === 0o100000) writeFileSync(to, e.data, { mode: e.mode & 0o777 });
  }
}

describe.runIf(canBuild)('build-env: the XFS and btrfs add-ons', () => {
  let report: BuildReport;
  let initrd: { path: string; mode: number; data: Buffer }[];
  beforeAll(async () => {
    report = await ensureBootEnv();
    const buf = readFileSync(join(DIST, 'initrd.img'));
    let at = 0;
    initrd = report.initrdParts.flatMap((n) => {
      const list = cpioList(zstdDecompressSync(buf.subarray(at, at + n)));
      at += n;
      return list;
    });
  }, 900_000);

  it('writes them beside the initrd, reports their sizes, and the initrd\'s manifest names their SHA-256', () => {
    expect(report.addons.map((a) => a.name)).toEqual(['xfs', 'btrfs']);
    const manifest = parseAddonsManifest(initrd.find((e) => e.path === ADDONS_MANIFEST.slice(1))!.data.toString());
    expect(manifest.kernel).toBe(report.kernelVersion);
    for (const a of report.addons) {
      const data = readFileSync(join(DIST, a.file));
      expect(data.length).toBe(a.bytes);
      expect(report.files[a.file]).toBe(a.bytes);
      const entry = manifest.addons.find((m) => m.name === a.name)!;
      expect(entry).toMatchObject({ file: a.file, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
      expect(a.unsignedModules).toEqual([]);
      expect(a.missingModules).toEqual([]);
    }
    // The initrd stays within its goal; the add-ons are not loaded at boot.
    expect(report.kernelPlusInitrd).toBeLessThanOrEqual(50_000_000);
  });

  it('carries the modules signed and in load order, and the tools run on the initrd with the add-on\'s libraries', async () => {
    const manifest = parseAddonsManifest(initrd.find((e) => e.path === ADDONS_MANIFEST.slice(1))!.data.toString());
    const root = mkdtempSync(join(tmpdir(), 'nr-addon-root-'));
    try {
      unpack(initrd, root);
      for (const a of manifest.addons) {
        const entries = cpioList(zstdDecompressSync(readFileSync(join(DIST, a.file))));
        const files = new Map(entries.map((e) => [e.path, e.data]));
        for (const m of a.modules) expect(moduleSigned(files.get(m)!), `${m} keeps its signature`).toBe(true);
        const names = a.modules.map((m) => m.slice(m.lastIndexOf('/') + 1));
        expect(names.at(-1)).toBe(`${a.name}.ko`);
        expect(names.indexOf('libcrc32c.ko')).toBeGreaterThanOrEqual(0);
        if (a.name === 'btrfs') for (const dep of ['xor.ko', 'raid6_pq.ko', 'zstd_compress.ko']) expect(names.indexOf(dep), dep).toBeLessThan(names.indexOf('btrfs.ko'));
        // Unpacked where the agent unpacks it (a directory of the environment's /tmp), run in a chroot of the initrd.
        const dir = join(root, 'tmp', `addon-${a.name}`);
        unpack(entries, dir);
        const env = { LD_LIBRARY_PATH: a.libraryDirs.map((d) => `/tmp/addon-${a.name}/${d}`).join(':') };
        const [tool, args] = a.name === 'xfs' ? ['xfs_growfs', ['-V']] : ['btrfs', ['--version']];
        const r = await execa('chroot', [root, `/tmp/addon-${a.name}/${a.tools[tool as string]}`, ...(args as string[])], { reject: false, all: true, env });
        expect(r.exitCode, `${tool}: ${r.all}`).toBe(0);
        expect(r.all).toMatch(a.name === 'xfs' ? /xfs_growfs version/ : /btrfs-progs v/);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
