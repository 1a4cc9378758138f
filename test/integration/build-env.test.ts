/**
 * `netrestore build-env` from Debian packages and the npm registry: what it
 * puts in boot-assets/dist, how big, and that the bundled agent runs.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { PARTCLONE_TOOLS, type BuildReport } from '../../src/build-env/build.ts';
import { cpioList } from '../../src/build-env/cpio.ts';
import { BIN } from '../../src/drill/service.ts';
import { qemuAvailable, startVm } from '../../src/drill/vm.ts';
import { DIST, ROOT, ensureBootEnv } from '../helpers/boot-env.ts';

const canBuild = existsSync('/bin/busybox') && existsSync('/usr/lib/ipxe/undionly.kpxe') && existsSync('/lib/modules');

/** The entries of every archive in the initrd: zstd frames one after another, each a cpio archive. */
function initrdEntries(buf: Buffer, parts: number[]): { path: string; mode: number; data: Buffer }[] {
  expect(parts.reduce((a, b) => a + b, 0)).toBe(buf.length);
  let at = 0;
  return parts.flatMap((n) => {
    const list = cpioList(zstdDecompressSync(buf.subarray(at, at + n)));
    at += n;
    return list;
  });
}

describe.runIf(canBuild)('build-env', () => {
  let report: BuildReport;
  beforeAll(async () => {
    report = await ensureBootEnv();
  }, 900_000);

  it('writes the iPXE first stages, a Debian kernel and an initrd of at most 50 MB together', () => {
    for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi', 'vmlinuz', 'initrd.img']) expect(report.files[f], f).toBeGreaterThan(10_000);
    expect(report.kernelPlusInitrd).toBeLessThanOrEqual(50_000_000);
    expect(report.nodeVersion).toMatch(/^v24\./);
    expect(readFileSync(join(DIST, 'vmlinuz')).subarray(0x202, 0x206).toString()).toBe('HdrS'); // a bzImage
  });

  it('puts init, busybox, Node 24, the agent, the drivers of common servers and their modules.alias into the initrd', () => {
    const entries = initrdEntries(readFileSync(join(DIST, 'initrd.img')), report.initrdParts);
    const paths = new Set(entries.map((e) => e.path));
    for (const p of ['init', 'bin/busybox', 'bin/sh', 'sbin/udhcpc', 'usr/bin/node', 'opt/netrestore/agent.mjs', 'usr/bin/netrestore', 'etc/udhcpc.script', 'dev/console', 'lib64/ld-linux-x86-64.so.2', 'usr/sbin/sfdisk']) {
      expect(paths.has(p), p).toBe(true);
    }
    const mods = [...paths].filter((p) => p.endsWith('.ko')).map((p) => p.slice(p.lastIndexOf('/') + 1, -3).replace(/-/g, '_'));
    for (const m of ['virtio_net', 'virtio_blk', 'e1000e', 'igb', 'ixgbe', 'i40e', 'bnxt_en', 'tg3', 'ahci', 'nvme', 'megaraid_sas', 'mpt3sas', 'hpsa', 'usb_storage']) expect(mods, m).toContain(m);
    const alias = entries.find((e) => e.path.endsWith('/modules.alias'))!.data.toString();
    expect(alias).toMatch(/alias pci:v00008086d000010D3.* e1000e/i);
    expect(entries.find((e) => e.path === 'init')!.mode & 0o111).toBeTruthy();
  });

  it('carries partclone for every filesystem capture maps, with its libraries, util-linux losetup and the loop module: each runs on nothing but the initrd', async () => {
    const entries = initrdEntries(readFileSync(join(DIST, 'initrd.img')), report.initrdParts);
    const paths = new Set(entries.map((e) => e.path));
    for (const t of PARTCLONE_TOOLS) expect(paths.has(`usr/sbin/${t}`), t).toBe(true);
    expect(paths.has('usr/sbin/losetup')).toBe(true);
    expect([...paths].some((p) => /\/loop\.ko(\.\w+)?$/.test(p))).toBe(true);
    // Unpacked and entered with chroot: only the initrd's own files are there.
    const root = mkdtempSync(join(tmpdir(), 'nr-env-root-'));
    try {
      for (const e of entries) {
        const to = join(root, e.path);
        if ((e.mode & 0o170000) === 0o040000) mkdirSync(to, { recursive: true });
        else if ((e.mode & 0o170000) === 0o120000) symlinkSync(e.data.toString(), to);
        else if ((e.mode & 0o170000) === 0o100000) writeFileSync(to, e.data, { mode: e.mode & 0o777 });
      }
      for (const t of [...PARTCLONE_TOOLS, 'losetup']) {
        const r = await execa('chroot', [root, `/usr/sbin/${t}`, '--version'], { reject: false, all: true });
        expect(r.exitCode, `${t}: ${r.all}`).toBe(0);
      }
      await execa('truncate', ['-s', '16M', join(root, 'tmp/fs.img')]);
      await execa('mke2fs', ['-q', '-F', '-t', 'ext4', join(root, 'tmp/fs.img')]);
      await execa('chroot', [root, '/usr/sbin/partclone.extfs', '-D', '-q', '-f', '0', '-s', '/tmp/fs.img', '-O', '/tmp/fs.map', '-L', '/tmp/fs.log']);
      // The same map as the host's partclone with the real libraries.
      await execa('partclone.extfs', ['-D', '-q', '-f', '0', '-s', join(root, 'tmp/fs.img'), '-O', join(root, 'tmp/host.map'), '-L', join(root, 'tmp/host.log')]);
      const body = (f: string) => readFileSync(join(root, f), 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');
      expect(body('tmp/fs.map')).toMatch(/^0x00000000\s+0x[0-9A-F]+\s+\+$/m);
      expect(body('tmp/fs.map')).toBe(body('tmp/host.map'));
      // libcrypto and libncursesw are stand-ins (stub-library.ts) of a few kilobytes.
      for (const lib of ['libcrypto.so.3', 'libncursesw.so.6']) expect(entries.find((e) => e.path === `lib/x86_64-linux-gnu/${lib}`)!.data.length, lib).toBeLessThan(64 * 1024);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('bundles the agent into one file that runs on the pinned Node with nothing else around it', async () => {
    const r = await execa(join(ROOT, 'node_modules/node/bin/node'), [join(ROOT, 'build/env/agent.mjs'), '--help'], { cwd: '/' });
    for (const c of ['boot', 'console', 'disks', 'restore', 'capture']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it.runIf(qemuAvailable())('on a machine it has no driver for: the reason on the console, then a shell, never a hang', async () => {
    const work = mkdtempSync(join(tmpdir(), 'nr-env-'));
    const vm = startVm({
      mac: '52:54:00:e0:00:01',
      firmware: 'bios',
      workDir: work,
      memoryMiB: 1024,
      kernel: { vmlinuz: join(DIST, 'vmlinuz'), initrd: join(DIST, 'initrd.img'), append: 'quiet console=ttyS0,115200 netrestore.server=http://192.0.2.1:8080' },
    });
    try {
      await vm.waitFor(/netrestore: no network card found: its driver is not in this environment/, 240_000);
      await vm.waitFor(/netrestore# /, 30_000);
    } finally {
      await vm.stop();
      rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);

  it('reuses the compressed initrd when nothing changed', async () => {
    const r = JSON.parse((await execa(BIN, ['build-env', '--json'], { cwd: ROOT })).stdout) as BuildReport;
    expect(r.cached).toBe(true);
    expect(r.archiveSha256).toBe(report.archiveSha256);
    expect(r.seconds).toBeLessThan(60);
  }, 120_000);

  it('names the apt package when a kernel is missing', async () => {
    const r = await execa(BIN, ['build-env', '--kernel', '9.9.9-none', '--out', '/tmp/nr-never'], { cwd: ROOT, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/kernel 9\.9\.9-none is missing: install it with `apt-get install linux-image-9\.9\.9-none`/);
  });
});
