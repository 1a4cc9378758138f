/**
 * `build-env --non-free-firmware`: the firmware files the environment's
 * drivers name (modinfo -F firmware) that Debian ships only in its
 * non-free-firmware component (firmware-bnx2, firmware-bnx2x,
 * firmware-qlogic, firmware-misc-nonfree …). The machine's apt sources are
 * left alone: a sources list of our own (the machine's Debian mirror,
 * bookworm, non-free-firmware) and apt's lists and cache under build/, so
 * apt-get update and download touch nothing of the system's. The component's
 * Contents index says which package holds each file; only those packages are
 * downloaded, unpacked with dpkg-deb, and only the named files taken.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readlink, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { NetrestoreError } from '../shared/errors.ts';

export const SUITE = 'bookworm';
export const COMPONENT = 'non-free-firmware';

/**
 * The Debian mirror the machine's apt uses: the first `deb` URI for Debian
 * itself (not its security archive) in sources.list or sources.list.d, one-line
 * or deb822. Pure over the files' text.
 */
export function debianMirror(sources: string[]): string | undefined {
  for (const text of sources) {
    // deb822 stanzas.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/im.exec(stanza)?.[1]?.trim().split(/\s+/);
      const types = /^Types:\s*(.+)$/im.exec(stanza)?.[1];
      const enabled = !/^Enabled:\s*no/im.test(stanza);
      if (uris && enabled && types?.split(/\s+/).includes('deb')) {
        const uri = uris.find((u) => !/security/.test(u));
        if (uri) return uri.replace(/\/+$/, '');
      }
    }
    // One-line entries: deb [options] URI suite components…
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/.exec(line);
      if (m && !/security/.test(m[1]!)) return m[1]!.replace(/\/+$/, '');
    }
  }
  return undefined;
}

/** Which package holds each wanted file, from a Contents index ("lib/firmware/x  section/pkg[,section/pkg]"). Pure. */
export function packagesFor(wanted: readonly string[], contents: string): { packages: Map<string, string[]>; notInComponent: string[] } {
  const owner = new Map<string, string>();
  for (const line of contents.split('\n')) {
    const m = /^(\S+)\s+(\S+)$/.exec(line.trim());
    if (!m || !m[1]!.startsWith('lib/firmware/')) continue;
    const pkg = m[2]!.split(',')[0]!.split('/').pop()!;
    owner.set(m[1]!.slice('lib/firmware/'.length), pkg);
  }
  const packages = new Map<string, string[]>();
  const notInComponent: string[] = [];
  for (const name of wanted) {
    const pkg = owner.get(name);
    if (!pkg) {
      notInComponent.push(name);
      continue;
    }
    packages.set(pkg, [...(packages.get(pkg) ?? []), name]);
  }
  return { packages, notInComponent };
}

export interface NonFreeFirmware {
  /** Firmware name (as modinfo says it) → file on this machine, inside the cache. */
  files: Map<string, string>;
  /** The packages they came from, with the version downloaded. */
  packages: string[];
  /** Named by a driver, but in no package of the component either. */
  notInComponent: string[];
}

/** The apt-get options that keep everything in `cache` and away from the machine's apt state. */
function aptOptions(cache: string): string[] {
  return [
    '-q',
    '-o', `Dir::Etc::sourcelist=${join(cache, 'sources.list')}`,
    '-o', 'Dir::Etc::sourceparts=-',
    '-o', `Dir::State::Lists=${join(cache, 'lists')}`,
    '-o', `Dir::Cache=${join(cache, 'apt-cache')}`,
    '-o', 'APT::Get::List-Cleanup=0',
    // Indexes stored plain where a container's apt.conf keeps them compressed (read back in indexText either way).
    '-o', 'Acquire::GzipIndexes=false',
    // The Contents index of the component: which package holds which file.
    '-o', 'Acquire::IndexTargets::deb::Contents-netrestore::MetaKey=$(COMPONENT)/Contents-$(ARCHITECTURE)',
    '-o', 'Acquire::IndexTargets::deb::Contents-netrestore::ShortDescription=Contents-$(ARCHITECTURE)',
    '-o', 'Acquire::IndexTargets::deb::Contents-netrestore::Description=$(RELEASE)/$(COMPONENT) $(ARCHITECTURE) Contents',
  ];
}

function systemSources(): string[] {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').filter((f) => /\.(list|sources)$/.test(f)).map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  return files.filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8'));
}

/** Decompress an index apt stored (.lz4, .gz, .xz or plain) to text. */
async function indexText(path: string): Promise<string> {
  if (path.endsWith('.lz4')) return (await execa('lz4cat', [path], { maxBuffer: 512 * 1024 * 1024 })).stdout;
  if (path.endsWith('.gz')) return (await promisify((await import('node:zlib')).gunzip)(readFileSync(path))).toString();
  if (path.endsWith('.xz')) return (await execa('xzcat', [path], { maxBuffer: 512 * 1024 * 1024 })).stdout;
  return readFileSync(path, 'utf8');
}

/**
 * Fetch (or take from `cache`) the non-free firmware files among `wanted`.
 * `cache` persists between builds: packages already unpacked are not fetched again.
 */
export async function fetchNonFreeFirmware(wanted: readonly string[], cache: string, log: (l: string) => void): Promise<NonFreeFirmware> {
  const mirror = debianMirror(systemSources());
  if (!mirror) throw new NetrestoreError('BUILD_ENV', 'no Debian mirror in /etc/apt/sources.list or sources.list.d: --non-free-firmware fetches from the mirror apt already uses; add one (deb http://deb.debian.org/debian bookworm main) or build without --non-free-firmware');
  await mkdir(join(cache, 'lists/partial'), { recursive: true });
  await mkdir(join(cache, 'apt-cache/archives/partial'), { recursive: true });
  await writeFile(join(cache, 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${SUITE} ${COMPONENT}\n`);
  const apt = aptOptions(cache);
  log(`non-free firmware: apt-get update of ${mirror} ${SUITE} ${COMPONENT} (a sources list of its own, in ${cache})`);
  const update = await execa('apt-get', [...apt, 'update'], { reject: false, all: true });
  if (update.exitCode !== 0) throw new NetrestoreError('BUILD_ENV', `apt-get update of ${mirror} ${SUITE} ${COMPONENT} failed: ${update.all?.split('\n').filter((l) => /^(E|W):/.test(l)).join(' ') || update.all}`);

  const lists = await readdir(join(cache, 'lists'));
  const contents = (await Promise.all(lists.filter((f) => f.includes(`_${COMPONENT}_Contents-`)).map((f) => indexText(join(cache, 'lists', f))))).join('\n');
  if (!contents) throw new NetrestoreError('BUILD_ENV', `the mirror ${mirror} gave no Contents index for ${SUITE}/${COMPONENT}: cannot tell which package holds which firmware`);
  const { packages, notInComponent } = packagesFor(wanted, contents);

  const debs = join(cache, 'debs');
  const root = join(cache, 'root');
  await mkdir(debs, { recursive: true });
  const names = [...packages.keys()].sort();
  const fetched: string[] = [];
  for (const pkg of names) {
    // apt-get download names the file pkg_version_arch.deb; an existing one is this version already.
    const version = /^Version:\s*(\S+)/m.exec((await execa('apt-cache', [...apt, 'show', '--no-all-versions', pkg])).stdout)?.[1] ?? '';
    const have = (await readdir(debs)).find((f) => f.startsWith(`${pkg}_${version.replace(/^\d+:/, '')}_`));
    if (!have) {
      log(`non-free firmware: downloading ${pkg} ${version} (${packages.get(pkg)!.length} files wanted)`);
      const dl = await execa('apt-get', [...apt, 'download', pkg], { cwd: debs, reject: false, all: true });
      if (dl.exitCode !== 0) throw new NetrestoreError('BUILD_ENV', `apt-get download ${pkg} failed: ${dl.all}`);
    }
    const deb = (await readdir(debs)).find((f) => f.startsWith(`${pkg}_${version.replace(/^\d+:/, '')}_`))!;
    const into = join(root, pkg);
    const stamp = join(into, '.netrestore-unpacked');
    if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== deb) {
      await rm(into, { recursive: true, force: true });
      await mkdir(into, { recursive: true });
      await execa('dpkg-deb', ['-x', join(debs, deb), into]);
      await writeFile(stamp, deb);
    }
    fetched.push(`${pkg} ${version}`);
  }

  const files = new Map<string, string>();
  for (const [pkg, wantedHere] of packages) {
    for (const name of wantedHere) {
      const path = await resolveInside(join(root, pkg), join('lib/firmware', name));
      if (path) files.set(name, path);
      else notInComponent.push(name);
    }
  }
  return { files, packages: fetched, notInComponent: notInComponent.sort() };
}

/**
 * A path inside an unpacked package, its symlinks followed inside that tree
 * (a package's absolute links point into its own /lib/firmware, not the host's).
 */
async function resolveInside(tree: string, rel: string, depth = 0): Promise<string | undefined> {
  if (depth > 20) return undefined;
  let at = tree;
  const parts = rel.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const next = join(at, parts[i]!);
    const target = await readlink(next).catch(() => undefined);
    if (target !== undefined) {
      const rest = parts.slice(i + 1).join('/');
      const base = target.startsWith('/') ? join(tree, target) : resolve(dirname(next), target);
      const relative = base.slice(tree.length).replace(/^\/+/, '');
      if (!base.startsWith(tree)) return undefined;
      return resolveInside(tree, join(relative, rest), depth + 1);
    }
    at = next;
  }
  return existsSync(at) ? at : undefined;
}
