/**
 * The restore environment's add-ons (shared/addons.ts) on the agent's side:
 * when a grow needs a filesystem the kernel does not know (XFS, btrfs) or a
 * tool the initrd lacks, the add-on is fetched from the service, checked
 * against the SHA-256 the initrd's manifest names, unpacked into RAM, its
 * modules loaded in order, and its tools run from there. Outside the
 * restore environment (no manifest) nothing is fetched: the machine's own
 * kernel and tools are used.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { zstdDecompress } from 'node:zlib';
import { ADDONS_MANIFEST, addonFor, addonMismatch, moduleBaseName, parseAddonsManifest, type AddonEntry, type AddonsManifest } from '../shared/addons.ts';
import { cpioList } from '../shared/cpio-list.ts';
import { NetrestoreError } from '../shared/errors.ts';

/** What a grow tool runs with: extra environment (PATH, LD_LIBRARY_PATH), or nothing when the machine has it all. */
export type ToolEnv = Record<string, string> | undefined;

/** Makes filesystem `fs` mountable and `tool` runnable; throws GROW_FAILED with the reason when it cannot. */
export interface FilesystemSupport {
  ready(fs: string, tool: string): Promise<ToolEnv>;
}

export interface AddonLoaderOptions {
  /** GET a file of the service's boot directory (ImagesClient.bootFile). */
  fetch: (file: string) => Promise<Buffer>;
  manifestPath?: string;
  /** Where the kernel lists the filesystems it knows, and its loaded modules. */
  procFilesystems?: string;
  sysModule?: string;
  /** The running kernel (`uname -r`). */
  kernel?: () => Promise<string>;
  /** PATH to look for tools in. */
  path?: string;
  log?: (s: string) => void;
}

const fail = (s: string, cause?: unknown) => new NetrestoreError('GROW_FAILED', s, cause === undefined ? undefined : { cause });
const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).at(-1) ?? 'no message';
/** Larger than any add-on unpacked (btrfs's is 6 MB): a damaged frame cannot fill the RAM. */
const MAX_UNPACKED = 256 * 1024 * 1024;

/** Whether /proc/filesystems (its text) lists `fs`: "nodev\tproc", "\txfs". */
export function kernelKnows(procFilesystems: string, fs: string): boolean {
  return procFilesystems.split('\n').some((l) => l.split('\t').at(-1)?.trim() === fs);
}

/** Where `tool` is on `path`, if anywhere. */
function onPath(tool: string, path: string): string | undefined {
  for (const d of path.split(delimiter).filter(Boolean)) if (existsSync(join(d, tool))) return join(d, tool);
  return undefined;
}

export class AddonLoader implements FilesystemSupport {
  readonly #o: AddonLoaderOptions;
  readonly #unpacked = new Map<string, Promise<string>>();
  #manifest: Promise<AddonsManifest | undefined> | undefined;

  constructor(o: AddonLoaderOptions) {
    this.#o = o;
  }

  async ready(fs: string, tool: string): Promise<ToolEnv> {
    const known = kernelKnows(await readFile(this.#o.procFilesystems ?? '/proc/filesystems', 'utf8').catch(() => ''), fs);
    const path = this.#o.path ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
    const has = onPath(tool, path) !== undefined;
    if (known && has) return undefined;
    const manifest = await (this.#manifest ??= this.#readManifest());
    // Not the restore environment: the machine's own kernel loads its modules on mount; a missing tool is said by the grow.
    if (!manifest) return undefined;
    const addon = addonFor(manifest, fs);
    if (!addon) throw fail(`this restore environment has no add-on for ${fs} (its manifest lists ${manifest.addons.map((a) => a.name).join(', ') || 'none'}): rebuild it with \`netrestore build-env\``);
    const running = await (this.#o.kernel ?? uname)();
    if (running !== manifest.kernel) throw fail(`the ${addon.name} add-on's modules are for kernel ${manifest.kernel} and this restore environment runs ${running}: rebuild it with \`netrestore build-env\``);
    let dir: string;
    const once = this.#unpacked.get(addon.name) ?? this.#unpack(addon);
    this.#unpacked.set(addon.name, once);
    try {
      dir = await once;
    } catch (err) {
      this.#unpacked.delete(addon.name);
      throw err;
    }
    if (!known) await this.#load(addon, dir);
    if (!has && !addon.tools[tool]) throw fail(`the ${addon.name} add-on has no ${tool}: rebuild the restore environment with \`netrestore build-env\``);
    const toolDirs = [...new Set(Object.values(addon.tools).map((t) => join(dir, dirname(t))))];
    return {
      PATH: [...toolDirs, path].join(delimiter),
      LD_LIBRARY_PATH: [...addon.libraryDirs.map((d) => join(dir, d)), process.env.LD_LIBRARY_PATH ?? ''].filter(Boolean).join(delimiter),
    };
  }

  async #readManifest(): Promise<AddonsManifest | undefined> {
    const p = this.#o.manifestPath ?? ADDONS_MANIFEST;
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch {
      return undefined;
    }
    try {
      return parseAddonsManifest(text);
    } catch (err) {
      throw fail(`${p}: ${(err as Error).message}; rebuild the restore environment with \`netrestore build-env\``);
    }
  }

  /** Fetch, check and unpack into a directory in RAM (the environment's /tmp); returns the directory. */
  async #unpack(a: AddonEntry): Promise<string> {
    this.#o.log?.(`fetching the ${a.name} add-on (${(a.bytes / 1e6).toFixed(1)} MB) to grow ${a.fs}`);
    let data: Buffer;
    try {
      data = await this.#o.fetch(a.file);
    } catch (err) {
      throw fail(`the ${a.name} add-on (${a.file}) could not be fetched from the service: ${(err as Error).message}. Run \`netrestore build-env\` into the service's boot directory`, err);
    }
    const wrong = addonMismatch(a, data);
    if (wrong) throw fail(`the ${a.name} add-on was refused: ${wrong}. The service's copy is not the one built with this restore environment: run \`netrestore build-env\` again`);
    let entries;
    try {
      entries = cpioList(await promisify(zstdDecompress)(data, { maxOutputLength: MAX_UNPACKED }));
    } catch (err) {
      throw fail(`the ${a.name} add-on does not unpack (${(err as Error).message}): run \`netrestore build-env\` again`, err);
    }
    const dir = await mkdtemp(join(tmpdir(), `netrestore-addon-${a.name}-`));
    for (const e of entries) {
      if (e.path.startsWith('/') || e.path.split('/').includes('..')) throw fail(`the ${a.name} add-on names a path outside itself (${e.path})`);
      const at = join(dir, e.path);
      const type = e.mode & 0o170000;
      if (type === 0o040000) await mkdir(at, { recursive: true });
      else if (type === 0o100000) {
        await mkdir(dirname(at), { recursive: true });
        await writeFile(at, e.data);
        await chmod(at, e.mode & 0o777);
      }
    }
    return dir;
  }

  /** insmod each module not yet loaded, in the manifest's order (every module after those it needs). */
  async #load(a: AddonEntry, dir: string): Promise<void> {
    const sys = this.#o.sysModule ?? '/sys/module';
    for (const m of a.modules) {
      const name = moduleBaseName(m);
      if (existsSync(join(sys, name))) continue;
      const r = await execa('insmod', [join(dir, m)], { reject: false, all: true });
      if (r.exitCode === 0 || /exists/i.test(r.all ?? '')) continue;
      const why = lastLine(r.all ?? '');
      const locked = /key|reject|permitted|lockdown/i.test(why) ? ' (under Secure Boot the kernel loads only modules signed by its vendor: the add-on must carry Debian\'s signed modules unchanged)' : '';
      throw fail(`the kernel did not load ${name} from the ${a.name} add-on: ${why}${locked}`);
    }
  }
}

async function uname(): Promise<string> {
  return (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
}
