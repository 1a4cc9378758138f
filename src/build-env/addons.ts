/**
 * The add-ons build-env makes beside the initrd (shared/addons.ts): for XFS
 * and btrfs, the kernel modules with everything they need, in load order,
 * copied as Debian ships them (signed: a kernel locked down by Secure Boot
 * loads only signed modules), and the grow tool with the libraries the
 * initrd lacks. One zstd cpio each (build-env's level, 19): the agent fetches one only to grow
 * (mount) such a filesystem.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AddonEntry, AddonsManifest } from '../shared/addons.ts';
import { cpioArchive, type CpioEntry } from './cpio.ts';
import { parseLdd } from './libraries.ts';
import { moduleName } from './modules.ts';
import { moduleSigned } from './signatures.ts';

export interface AddonSpec {
  name: string;
  fs: string;
  modules: string[];
  /** Host paths of the programs. */
  tools: string[];
}

export const ADDON_SPECS: readonly AddonSpec[] = [
  { name: 'xfs', fs: 'xfs', modules: ['xfs'], tools: ['/usr/sbin/xfs_growfs'] },
  { name: 'btrfs', fs: 'btrfs', modules: ['btrfs'], tools: ['/usr/bin/btrfs'] },
];

/** The module index files of /lib/modules/VERSION, as text. */
export interface ModuleIndex {
  dep: string;
  builtin?: string;
  /** `softdep libcrc32c pre: crc32c`: modules a module asks for at run time (crypto), not by symbol. */
  softdep?: string;
  /** `alias crc32c crc32c_generic`. */
  alias?: string;
  /** modules.builtin.modinfo: NUL-separated `module.key=value`; its aliases say what the kernel has built in. */
  builtinModinfo?: string;
}

/**
 * The modules `wanted` and all they need, as paths of modules.dep, each
 * after every module it needs (insmod cannot resolve symbols of a module not
 * yet loaded). A module's "pre" softdeps come before it too: libcrc32c and
 * btrfs fail to start without a crc32c (xxhash64, blake2b-256) driver, and
 * the restore environment has no modprobe index that finds one. A softdep
 * the kernel has built in needs nothing; of several modules that provide
 * one, the generic one (it runs on every CPU). Names neither in modules.dep
 * nor built in are in `missing`.
 */
export function loadOrder(wanted: readonly string[], idx: ModuleIndex): { paths: string[]; missing: string[] } {
  const deps = new Map<string, { path: string; needs: string[] }>();
  for (const line of idx.dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(moduleName(path), { path, needs: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  const builtin = new Set((idx.builtin ?? '').split('\n').filter(Boolean).map(moduleName));
  const builtinAliases = new Set((idx.builtinModinfo ?? '').split('\0').flatMap((e) => (/^[^.]+\.alias=(.+)$/.exec(e)?.[1] ? [/^[^.]+\.alias=(.+)$/.exec(e)![1]!] : [])));
  const providers = new Map<string, string[]>();
  for (const line of (idx.alias ?? '').split('\n')) {
    const [kw, alias, mod] = line.trim().split(/\s+/);
    if (kw === 'alias' && alias && mod) providers.set(alias, [...(providers.get(alias) ?? []), mod.replace(/-/g, '_')]);
  }
  const softdeps = new Map<string, string[]>();
  for (const line of (idx.softdep ?? '').split('\n')) {
    const m = /^softdep\s+(\S+)\s+pre:\s*(.*?)(?:\s+post:.*)?$/.exec(line.trim());
    if (m) softdeps.set(m[1]!.replace(/-/g, '_'), [...(softdeps.get(m[1]!.replace(/-/g, '_')) ?? []), ...m[2]!.split(/\s+/).filter(Boolean)]);
  }
  /** The module that provides softdep `name`, or undefined when built in or unknown. */
  const provider = (name: string): string | undefined => {
    if (builtinAliases.has(name) || builtin.has(name.replace(/-/g, '_'))) return undefined;
    if (deps.has(name.replace(/-/g, '_'))) return name.replace(/-/g, '_');
    const mods = providers.get(name) ?? [];
    return mods.find((m) => m.endsWith('_generic')) ?? mods[0];
  };
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const missing: string[] = [];
  const visit = (name: string) => {
    if (done.has(name) || visiting.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      if (!builtin.has(name)) missing.push(name);
      return;
    }
    visiting.add(name);
    for (const s of softdeps.get(name) ?? []) {
      const p = provider(s);
      if (p) visit(p);
    }
    for (const p of entry.needs) visit(moduleName(p));
    visiting.delete(name);
    done.add(name);
    order.push(entry.path);
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'));
  return { paths: order, missing };
}

export interface BuiltAddon {
  entry: AddonEntry;
  data: Buffer;
  /** Before compression, bytes. */
  rawBytes: number;
  unsignedModules: string[];
  missingModules: string[];
  /** The compressed archive's name in build-env's cache. */
  cacheName: string;
}

/**
 * One add-on: its archive, compressed, and its manifest entry. `inInitrd`
 * says whether the initrd already has a library at that path (it is left
 * out of the add-on).
 */
export async function buildAddon(spec: AddonSpec, kernel: string, inInitrd: (path: string) => boolean, compress: (raw: Buffer) => Promise<{ data: Buffer; cacheName: string }>): Promise<BuiltAddon> {
  const src = `/lib/modules/${kernel}`;
  const text = (f: string) => readFile(join(src, f), 'utf8').catch(() => '');
  const [dep, builtin, softdep, alias, builtinModinfo] = await Promise.all(['modules.dep', 'modules.builtin', 'modules.softdep', 'modules.alias', 'modules.builtin.modinfo'].map(text));
  const order = loadOrder(spec.modules, { dep: dep!, builtin: builtin!, softdep: softdep!, alias: alias!, builtinModinfo: builtinModinfo! });
  const files = new Map<string, { data: Buffer; mode: number }>();
  const unsignedModules: string[] = [];
  const modules: string[] = [];
  for (const p of order.paths) {
    const data = await readFile(join(src, p));
    if (!p.endsWith('.ko') || !moduleSigned(data)) unsignedModules.push(p);
    const at = `lib/modules/${kernel}/${p}`;
    files.set(at, { data, mode: 0o644 });
    modules.push(at);
  }
  const tools: Record<string, string> = {};
  const libraryDirs = new Set<string>();
  for (const tool of spec.tools) {
    const at = tool.replace(/^\/+/, '');
    files.set(at, { data: await readFile(tool), mode: 0o755 });
    tools[tool.slice(tool.lastIndexOf('/') + 1)] = at;
    const { stdout } = await execa('ldd', [tool], { reject: false });
    for (const lib of parseLdd(stdout)) {
      if (inInitrd(lib)) continue;
      const libAt = lib.replace(/^\/+/, '');
      files.set(libAt, { data: await readFile(await realpath(lib)), mode: 0o755 });
      libraryDirs.add(dirname(libAt));
    }
  }
  // Directories once, before their files; sorted paths keep the bytes the same for the same inputs.
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  for (const path of [...files.keys()].sort()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: 'dir', path: d });
      }
    }
    const f = files.get(path)!;
    entries.push({ type: 'file', path, data: f.data, mode: f.mode });
  }
  const raw = Buffer.concat(cpioArchive(entries));
  const { data, cacheName } = await compress(raw);
  const entry: AddonEntry = {
    name: spec.name,
    fs: spec.fs,
    file: `addons/${spec.name}.cpio.zst`,
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    modules,
    tools,
    libraryDirs: [...libraryDirs].sort(),
  };
  return { entry, data, rawBytes: raw.length, unsignedModules, missingModules: order.missing, cacheName };
}

export function addonsManifest(kernel: string, built: BuiltAddon[]): AddonsManifest {
  return { version: 1, kernel, addons: built.map((b) => b.entry) };
}
