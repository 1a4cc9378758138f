/**
 * `netrestore build-env`: the restore environment from Debian packages and
 * the npm registry, into boot-assets/dist. The archive is assembled in
 * memory (deterministic: same inputs, same bytes) and its hash decides
 * whether the slow part, compression, runs again.
 */
import { build as esbuild } from 'esbuild';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { constants as zc, zstdCompress } from 'node:zlib';
import { NetrestoreError } from '../shared/errors.ts';
import { missingPackage, requirePackages, type Need } from '../host-packages.ts';
import { cpioArchive, type CpioEntry } from './cpio.ts';
import { parseLdd } from './libraries.ts';
import { STUB_LIBRARIES, stubAssembly, stubVersionScript, undefinedSymbols } from './stub-library.ts';
import { SERVER_MODULES, resolveModules } from './modules.ts';
import { fetchNonFreeFirmware } from './nonfree-firmware.ts';
import { ADDON_SPECS, addonsManifest, buildAddon } from './addons.ts';
import { ADDONS_MANIFEST } from '../shared/addons.ts';
import { SIGNED_CHAIN, SIGNED_CHAIN_NEEDS, secureBootReport, signedChain, type SecureBootReport } from './secure-boot.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface BuildOptions {
  out: string;
  /** Kernel version under /lib/modules; default: the newest installed. */
  kernel?: string;
  /** zstd level for the initrd (19: small; 3: fast, for trying things). */
  level?: number;
  force?: boolean;
  /** Add the firmware files the drivers name from Debian's non-free-firmware packages (nonfree-firmware.ts). */
  nonFreeFirmware?: boolean;
  log: (line: string) => void;
}

export interface BuildReport {
  kernelVersion: string;
  nodeVersion: string;
  files: Record<string, number>;
  kernelPlusInitrd: number;
  modules: number;
  missingModules: string[];
  firmware: number;
  missingFirmware: string[];
  /** With --non-free-firmware: the files taken from non-free packages, their bytes, and the packages. */
  nonFreeFirmware?: { files: number; bytes: number; packages: string[] };
  /**
   * The add-ons beside the initrd (addons.ts): fetched by the agent only to
   * grow an XFS or btrfs filesystem. Not in kernelPlusInitrd: no boot loads them.
   */
  addons: { name: string; file: string; bytes: number; rawBytes: number; sha256: string; modules: number; unsignedModules: string[]; missingModules: string[] }[];
  archiveSha256: string;
  /** Compressed length of each archive in initrd.img, in order (the kernel unpacks them one after another). */
  initrdParts: number[];
  /** What the Secure Boot chain (shimx64.efi, grubx64.efi, this kernel) rests on. */
  secureBoot: SecureBootReport;
  seconds: number;
  cached: boolean;
}

/**
 * `capture` maps used blocks with partclone (shared/partclone.ts): one
 * program per filesystem family, with its shared libraries.
 */
export const PARTCLONE_TOOLS = ['partclone.extfs', 'partclone.ntfs', 'partclone.fat', 'partclone.exfat', 'partclone.xfs', 'partclone.btrfs'] as const;

/** What must be on the build machine, and the Debian package that brings it. */
const NEEDS: Need[] = [
  ['/bin/busybox', 'busybox-static'],
  ['/usr/lib/ipxe/undionly.kpxe', 'ipxe'],
  ['/usr/lib/ipxe/snponly.efi', 'ipxe'],
  ['/usr/lib/ipxe/ipxe.efi', 'ipxe'],
  ['/usr/sbin/depmod', 'kmod'],
  ['/usr/sbin/modinfo', 'kmod'],
  ['/usr/bin/strip', 'binutils'],
  ['/usr/bin/nm', 'binutils'],
  ['/usr/bin/as', 'binutils'],
  ['/usr/bin/ld', 'binutils'],
  ['/usr/bin/ldd', 'libc-bin'],
  ['/usr/sbin/sfdisk', 'fdisk'],
  ['/usr/bin/partx', 'util-linux'],
  ['/usr/sbin/losetup', 'util-linux'],
  ['/usr/sbin/xfs_growfs', 'xfsprogs'],
  ['/usr/bin/btrfs', 'btrfs-progs'],
  ...PARTCLONE_TOOLS.map((t): Need => [`/usr/sbin/${t}`, 'partclone']),
];
const AGAIN = ' and run `netrestore build-env` again';

/**
 * What grows the last partition's filesystem after a restore onto a larger
 * disk (restore-agent/grow.ts), with their libraries; sfdisk and partx are
 * above. util-linux's losetup: busybox's has no --sizelimit or --show. XFS
 * and btrfs are left out: their modules and tools add 2.6 MB compressed
 * (xfs.ko 0.7, btrfs.ko and its deps 1.0, the btrfs program 0.9) to an
 * initrd already near its 50 MB: they are add-ons (addons.ts) the agent
 * fetches when it grows such a filesystem.
 */
const GROW_TOOLS: Need[] = [
  ['/usr/sbin/e2fsck', 'e2fsprogs'],
  ['/usr/sbin/resize2fs', 'e2fsprogs'],
  ['/usr/sbin/ntfsresize', 'ntfs-3g'],
  ['/usr/sbin/losetup', 'mount'],
];

/** The iPXE first stages served as they are (Debian 12's ipxe has no arm64 build). */
const IPXE = ['undionly.kpxe', 'snponly.efi', 'ipxe.efi'];

async function newestKernel(): Promise<string> {
  const versions = await readdir('/lib/modules').catch(() => []);
  const usable = versions.filter((v) => existsSync(`/boot/vmlinuz-${v}`)).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const v = usable.at(-1);
  if (!v) throw missingPackage('BUILD_ENV', 'a Debian kernel (/boot/vmlinuz-* with /lib/modules)', 'linux-image-amd64', AGAIN);
  return v;
}

/** The pinned Node 24 from the npm registry (the `node` dependency), never the build machine's own. */
async function pinnedNode(): Promise<{ path: string; version: string }> {
  const path = await realpath(join(ROOT, 'node_modules/node/bin/node')).catch(() => undefined);
  if (!path) throw new NetrestoreError('BUILD_ENV', 'the pinned Node (node_modules/node) is missing: run `npm ci` in the project first');
  const { stdout } = await execa(path, ['--version']);
  return { path, version: stdout.trim() };
}

/**
 * The agent, bundled by esbuild into one ES module with everything it
 * imports. Returns the project files that went in (esbuild's metafile), so a
 * test can hold the agent to its boundary.
 */
export async function bundleAgent(outfile: string, write = true): Promise<string[]> {
  const r = await esbuild({
    write,
    metafile: true,
    entryPoints: [join(ROOT, 'src/restore-agent/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    // Some dependencies are CommonJS and call require() for Node's own modules.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return Object.keys(r.metafile.inputs).filter((f) => !f.includes('node_modules/'));
}

/** Directory entries for every parent, once, before the children. */
class Tree {
  readonly entries: CpioEntry[] = [];
  readonly #paths = new Set<string>();

  #dirs(path: string): void {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!this.#paths.has(d)) {
        this.#paths.add(d);
        this.entries.push({ type: 'dir', path: d });
      }
    }
  }

  has(path: string): boolean {
    return this.#paths.has(path.replace(/^\/+/, ''));
  }

  add(e: CpioEntry): void {
    const path = e.path.replace(/^\/+/, '');
    if (this.#paths.has(path)) return;
    this.#dirs(path);
    this.#paths.add(path);
    this.entries.push({ ...e, path });
  }

  async addHostFile(hostPath: string, at = hostPath, mode?: number): Promise<number> {
    const data = await readFile(hostPath);
    const st = await stat(hostPath);
    this.add({ type: 'file', path: at, data, mode: mode ?? st.mode & 0o777 });
    return data.length;
  }

  /** A program and the shared libraries `ldd` says it needs, at the same paths. */
  async addProgram(hostPath: string, at = hostPath, data?: Buffer): Promise<void> {
    if (data) this.add({ type: 'file', path: at, data, mode: 0o755 });
    else await this.addHostFile(hostPath, at, 0o755);
    const { stdout } = await execa('ldd', [hostPath], { reject: false });
    for (const lib of parseLdd(stdout)) if (!this.has(lib)) await this.addHostFile(await realpath(lib), lib, 0o755);
  }
}

async function stageModules(tree: Tree, version: string, work: string, o: BuildOptions): Promise<{ count: number; missing: string[]; firmware: number; missingFirmware: string[]; nonFree?: BuildReport['nonFreeFirmware'] }> {
  const src = `/lib/modules/${version}`;
  const [dep, builtin] = await Promise.all([readFile(join(src, 'modules.dep'), 'utf8'), readFile(join(src, 'modules.builtin'), 'utf8')]);
  const set = resolveModules(SERVER_MODULES, dep, builtin);
  // depmod over just these modules writes the modules.dep and modules.alias the environment's modprobe reads.
  const root = join(work, 'modroot');
  await rm(root, { recursive: true, force: true });
  for (const p of set.paths) {
    await mkdir(dirname(join(root, 'lib/modules', version, p)), { recursive: true });
    await copyFile(join(src, p), join(root, 'lib/modules', version, p));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) await copyFile(join(src, f), join(root, 'lib/modules', version, f)).catch(() => undefined);
  await execa('depmod', ['-b', root, version]);
  const staged = join(root, 'lib/modules', version);
  for (const p of set.paths) await tree.addHostFile(join(staged, p), `/lib/modules/${version}/${p}`, 0o644);
  for (const f of await readdir(staged)) if (f.startsWith('modules.')) await tree.addHostFile(join(staged, f), `/lib/modules/${version}/${f}`, 0o644);

  // Firmware the drivers ask for, where Debian's free firmware has it.
  const { stdout } = await execa('modinfo', ['-F', 'firmware', ...set.paths.map((p) => join(src, p))], { reject: false });
  const wanted = [...new Set(stdout.split('\n').map((s) => s.trim()).filter(Boolean))];
  let firmware = 0;
  const missingFirmware: string[] = [];
  for (const name of wanted) {
    const host = join('/lib/firmware', name);
    if (existsSync(host)) {
      await tree.addHostFile(await realpath(host), `/lib/firmware/${name}`, 0o644);
      firmware++;
    } else missingFirmware.push(name);
  }
  if (!o.nonFreeFirmware || missingFirmware.length === 0) return { count: set.paths.length, missing: set.missing, firmware, missingFirmware };
  const nonFree = await fetchNonFreeFirmware(missingFirmware, join(ROOT, 'build/nonfree-firmware'), o.log);
  let bytes = 0;
  for (const [name, path] of nonFree.files) bytes += await tree.addHostFile(path, `/lib/firmware/${name}`, 0o644);
  return { count: set.paths.length, missing: set.missing, firmware: firmware + nonFree.files.size, missingFirmware: nonFree.notInComponent, nonFree: { files: nonFree.files.size, bytes, packages: nonFree.packages } };
}

/** Stand-ins (stub-library.ts) for the libraries `programs` link but never call here, at the paths the loader looks. */
async function addStubLibraries(tree: Tree, programs: string[], work: string): Promise<void> {
  const nm = (await Promise.all(programs.map((p) => execa('nm', ['-D', '--undefined-only', p])))).map((r) => r.stdout).join('\n');
  const ldd = (await Promise.all(programs.map((p) => execa('ldd', [p], { reject: false })))).flatMap((r) => parseLdd(r.stdout));
  const dir = join(work, 'stubs');
  await mkdir(dir, { recursive: true });
  for (const lib of STUB_LIBRARIES) {
    const symbols = undefinedSymbols(nm, lib.version);
    const at = ldd.find((l) => basename(l) === lib.soname);
    if (symbols.length === 0 || !at) continue;
    const base = join(dir, lib.soname);
    await writeFile(`${base}.s`, stubAssembly(symbols));
    await writeFile(`${base}.map`, stubVersionScript(symbols));
    await execa('as', ['-o', `${base}.o`, `${base}.s`]);
    await execa('ld', ['-shared', '-soname', lib.soname, '--version-script', `${base}.map`, '-o', base, `${base}.o`]);
    await tree.addHostFile(base, at, 0o755);
  }
}

async function busyboxLinks(tree: Tree): Promise<void> {
  await tree.addHostFile('/bin/busybox', '/bin/busybox', 0o755);
  const { stdout } = await execa('/bin/busybox', ['--list-full']);
  for (const applet of stdout.split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox' || applet === 'linuxrc') continue;
    tree.add({ type: 'symlink', path: applet, target: '/bin/busybox' });
  }
}

async function atomicWrite(path: string, data: Buffer | string): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

export async function buildEnv(o: BuildOptions): Promise<BuildReport> {
  const t0 = performance.now();
  requirePackages('BUILD_ENV', [...NEEDS, ...GROW_TOOLS, ...SIGNED_CHAIN_NEEDS], AGAIN);
  const signed = await signedChain();
  const kernelVersion = o.kernel ?? (await newestKernel());
  const vmlinuz = `/boot/vmlinuz-${kernelVersion}`;
  if (!existsSync(vmlinuz) || !existsSync(`/lib/modules/${kernelVersion}/modules.dep`)) throw missingPackage('BUILD_ENV', `kernel ${kernelVersion}`, `linux-image-${kernelVersion}`, AGAIN);
  const node = await pinnedNode();
  const work = join(ROOT, 'build/env');
  await mkdir(work, { recursive: true });
  await mkdir(o.out, { recursive: true });

  o.log(`bundling the agent (esbuild)`);
  const agent = join(work, 'agent.mjs');
  await bundleAgent(agent);

  o.log(`node ${node.version}: stripping symbols`);
  const strippedNode = join(work, 'node');
  await execa('strip', ['-o', strippedNode, node.path]);

  o.log(`assembling the initramfs (kernel ${kernelVersion})`);
  const tree = new Tree();
  tree.add({ type: 'char', path: 'dev/console', major: 5, minor: 1 });
  tree.add({ type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
  for (const d of ['proc', 'sys', 'tmp', 'run', 'mnt', 'root', 'etc']) tree.add({ type: 'dir', path: d });
  await tree.addHostFile(join(ROOT, 'boot-assets/init'), '/init', 0o755);
  await tree.addHostFile(join(ROOT, 'boot-assets/udhcpc.script'), '/etc/udhcpc.script', 0o755);
  tree.add({ type: 'file', path: 'etc/profile', data: Buffer.from("export PS1='netrestore# ' TERM=linux PATH=/usr/sbin:/usr/bin:/sbin:/bin\n") });
  tree.add({ type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  tree.add({ type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') });
  // partclone refuses a mounted filesystem only when it can read the mount table here.
  tree.add({ type: 'symlink', path: 'etc/mtab', target: '/proc/self/mounts' });
  // Node itself goes into its own archive (below); its libraries go here.
  const { stdout: nodeLibs } = await execa('ldd', [node.path]);
  for (const lib of parseLdd(nodeLibs)) if (!tree.has(lib)) await tree.addHostFile(await realpath(lib), lib, 0o755);
  await tree.addHostFile(agent, '/opt/netrestore/agent.mjs', 0o644);
  // The agent as a command in the restore shell.
  tree.add({ type: 'file', path: 'usr/bin/netrestore', mode: 0o755, data: Buffer.from('#!/bin/sh\n# GC flag: see bin/netrestore\nexec /usr/bin/node --external-memory-accounted-in-global-limit /opt/netrestore/agent.mjs "$@"\n') });
  await tree.addProgram('/usr/sbin/sfdisk');
  await tree.addProgram('/usr/bin/partx');
  // Grow tools and util-linux's losetup (busybox's has no --sizelimit: a loop device over one partition needs it).
  for (const [path] of GROW_TOOLS) await tree.addProgram(path);
  const partclone = PARTCLONE_TOOLS.map((t) => `/usr/sbin/${t}`);
  await addStubLibraries(tree, partclone, work);
  for (const p of partclone) await tree.addProgram(p);
  const mods = await stageModules(tree, kernelVersion, work, o);
  await busyboxLinks(tree);
  // The add-ons, then their manifest into the initrd: their SHA-256 is as trusted as the initrd.
  const level = o.level ?? 19;
  const addons = await Promise.all(ADDON_SPECS.map((s) => buildAddon(s, kernelVersion, (p) => tree.has(p), (raw) => compressCached(raw, level, 'addon', work, o))));
  tree.add({ type: 'file', path: ADDONS_MANIFEST, data: Buffer.from(JSON.stringify(addonsManifest(kernelVersion, addons), null, 2) + '\n'), mode: 0o644 });

  // Two archives, compressed apart and in parallel, concatenated: the kernel
  // unpacks one after the other. Node (three quarters of the bytes) rarely
  // changes, so its compressed part is usually reused from the cache.
  const nodePart = cpioArchive([{ type: 'dir', path: 'usr' }, { type: 'dir', path: 'usr/bin' }, { type: 'file', path: 'usr/bin/node', data: await readFile(strippedNode), mode: 0o755 }]);
  // Node's part at zstd -22 (a 128 MiB window, which the kernel's unpacker
  // allows): 0.37 MB less than -19, which the 50 MB budget needs since the
  // environment carries partclone. It is compressed once and then cached.
  const nodeLevel = o.level ?? 22;
  const compressed = await Promise.all([compressPart(cpioArchive(tree.entries), level, work, o), compressPart(nodePart, nodeLevel, work, o)]);
  const archiveSha256 = createHash('sha256').update(compressed.map((c) => c.sha256).join()).digest('hex');
  const reportPath = join(o.out, 'build.json');
  const previous = await readFile(reportPath, 'utf8').then((t) => JSON.parse(t) as BuildReport, () => undefined);
  const cached = compressed.every((c) => c.cached) && previous?.archiveSha256 === archiveSha256 && existsSync(join(o.out, 'initrd.img'));
  if (!cached) await atomicWrite(join(o.out, 'initrd.img'), Buffer.concat(await Promise.all(compressed.map((c) => readFile(c.path)))));
  // Parts of older builds are of no more use.
  const keep = new Set([...compressed.map((c) => basename(c.path)), ...addons.map((a) => a.cacheName)]);
  for (const f of await readdir(work)) if ((f.startsWith('part-') || f.startsWith('addon-')) && !keep.has(f)) await rm(join(work, f));
  await mkdir(join(o.out, 'addons'), { recursive: true });
  for (const a of addons) await atomicWrite(join(o.out, a.entry.file), a.data);
  for (const a of addons) if (a.unsignedModules.length > 0) o.log(`warning: the ${a.entry.name} add-on has ${a.unsignedModules.length} modules without their signature: they will not load under Secure Boot`);
  await atomicWrite(join(o.out, 'vmlinuz'), await readFile(vmlinuz));
  for (const f of IPXE) await atomicWrite(join(o.out, f), await readFile(join('/usr/lib/ipxe', f)));
  for (const f of signed) await atomicWrite(join(o.out, f.name), f.data);
  const secureBoot = secureBootReport(await readFile(vmlinuz), tree.entries.flatMap((e) => (e.type === 'file' && e.path.startsWith('lib/modules/') ? [e] : [])));
  if (secureBoot.kernelSigners.length === 0) o.log(`warning: ${vmlinuz} is not signed: machines with Secure Boot on cannot boot it (install Debian's linux-image-amd64)`);
  if (secureBoot.unsignedModules.length > 0) o.log(`warning: ${secureBoot.unsignedModules.length} modules lack their signature and will not load under Secure Boot: ${secureBoot.unsignedModules.slice(0, 3).join(', ')}`);

  const files: Record<string, number> = {};
  for (const f of ['vmlinuz', 'initrd.img', ...IPXE, ...SIGNED_CHAIN.map((c) => c.name), ...addons.map((a) => a.entry.file)]) files[f] = (await stat(join(o.out, f))).size;
  const report: BuildReport = {
    kernelVersion,
    nodeVersion: node.version,
    files,
    kernelPlusInitrd: files['vmlinuz']! + files['initrd.img']!,
    modules: mods.count,
    missingModules: mods.missing,
    firmware: mods.firmware,
    missingFirmware: mods.missingFirmware,
    ...(mods.nonFree ? { nonFreeFirmware: mods.nonFree } : {}),
    addons: addons.map((a) => ({ name: a.entry.name, file: a.entry.file, bytes: a.entry.bytes, rawBytes: a.rawBytes, sha256: a.entry.sha256, modules: a.entry.modules.length, unsignedModules: a.unsignedModules, missingModules: a.missingModules })),
    archiveSha256,
    initrdParts: await Promise.all(compressed.map(async (c) => (await stat(c.path)).size)),
    secureBoot,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
    cached,
  };
  await atomicWrite(reportPath, JSON.stringify(report, null, 2) + '\n');
  return report;
}

/** An add-on's archive compressed, from the cache when the same bytes were compressed before. */
async function compressCached(raw: Buffer, level: number, prefix: string, work: string, o: BuildOptions): Promise<{ data: Buffer; cacheName: string }> {
  const sha256 = createHash('sha256').update(raw).update(`zstd-${level}`).digest('hex');
  const cacheName = `${prefix}-${sha256.slice(0, 16)}.zst`;
  const path = join(work, cacheName);
  if (!o.force && existsSync(path)) return { data: await readFile(path), cacheName };
  o.log(`compressing an add-on of ${(raw.length / 1048576).toFixed(1)} MiB with zstd -${level}`);
  const data = await promisify(zstdCompress)(raw, { params: { [zc.ZSTD_c_compressionLevel]: level, [zc.ZSTD_c_checksumFlag]: 1 } });
  await atomicWrite(path, data);
  return { data, cacheName };
}

/** One compressed archive, from the cache when the same bytes were compressed before. */
async function compressPart(parts: Buffer[], level: number, work: string, o: BuildOptions): Promise<{ path: string; sha256: string; cached: boolean }> {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  hash.update(`zstd-${level}`);
  const sha256 = hash.digest('hex');
  const path = join(work, `part-${sha256.slice(0, 16)}.cpio.zst`);
  if (!o.force && existsSync(path)) return { path, sha256, cached: true };
  const raw = parts.reduce((n, p) => n + p.length, 0);
  o.log(`compressing ${(raw / 1048576).toFixed(0)} MiB with zstd -${level}`);
  const out = await promisify(zstdCompress)(Buffer.concat(parts), { params: { [zc.ZSTD_c_compressionLevel]: level, [zc.ZSTD_c_checksumFlag]: 1 } });
  await atomicWrite(path, out);
  return { path, sha256, cached: false };
}

