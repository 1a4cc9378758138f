/**
 * Add-ons of the restore environment: archives `build-env` makes beside the
 * initrd (boot-assets/dist/addons/NAME.cpio.zst) for what the 50 MB initrd
 * cannot carry: the XFS and btrfs modules and their grow tools. The initrd
 * holds their manifest (ADDONS_MANIFEST), so the sha256 it names is as
 * trusted as the initrd itself: an add-on whose bytes differ is refused.
 * Pure: text and bytes in.
 */
import { createHash } from 'node:crypto';

/** Where the manifest sits in the restore environment. */
export const ADDONS_MANIFEST = '/etc/netrestore/addons.json';

export interface AddonEntry {
  /** "xfs", "btrfs". */
  name: string;
  /** The filesystem (as the kernel's /proc/filesystems names it) the add-on lets the agent mount and grow. */
  fs: string;
  /** Relative to the boot directory; the service serves it as /boot/FILE. */
  file: string;
  /** The compressed archive: its length and SHA-256 (hex). */
  bytes: number;
  sha256: string;
  /** Archive paths of the modules (lib/modules/VERSION/…), in load order: every module after the ones it needs. */
  modules: string[];
  /** Program name → archive path ("xfs_growfs" → "usr/sbin/xfs_growfs"). */
  tools: Record<string, string>;
  /** Archive directories of the libraries the tools need beyond the initrd's (LD_LIBRARY_PATH). */
  libraryDirs: string[];
}

export interface AddonsManifest {
  version: 1;
  /** The kernel the modules were built for: `uname -r` of the restore environment. */
  kernel: string;
  addons: AddonEntry[];
}

const relative = (p: unknown): p is string => typeof p === 'string' && p.length > 0 && !p.startsWith('/') && !p.split('/').includes('..');

/** The manifest, checked; throws Error with what is wrong. */
export function parseAddonsManifest(text: string): AddonsManifest {
  const m = JSON.parse(text) as Partial<AddonsManifest>;
  if (m.version !== 1 || typeof m.kernel !== 'string' || !Array.isArray(m.addons)) throw new Error('the add-on manifest is not version 1 with a kernel and a list of add-ons');
  for (const a of m.addons) {
    const ok =
      typeof a.name === 'string' &&
      typeof a.fs === 'string' &&
      relative(a.file) &&
      Number.isInteger(a.bytes) &&
      /^[0-9a-f]{64}$/.test(a.sha256) &&
      Array.isArray(a.modules) &&
      a.modules.every(relative) &&
      typeof a.tools === 'object' &&
      a.tools !== null &&
      Object.values(a.tools).every(relative) &&
      Array.isArray(a.libraryDirs) &&
      a.libraryDirs.every(relative);
    if (!ok) throw new Error(`the add-on manifest's entry ${JSON.stringify(a.name ?? '?')} is incomplete or names a path outside the add-on`);
  }
  return m as AddonsManifest;
}

/** The add-on that brings filesystem `fs`, if the manifest has one. */
export function addonFor(m: AddonsManifest, fs: string): AddonEntry | undefined {
  return m.addons.find((a) => a.fs === fs);
}

/** Why these bytes are not the add-on the manifest names, or undefined when they are. */
export function addonMismatch(a: AddonEntry, data: Buffer): string | undefined {
  if (data.length !== a.bytes) return `${a.file} is ${data.length} bytes and the restore environment's manifest says ${a.bytes}`;
  const got = createHash('sha256').update(data).digest('hex');
  if (got !== a.sha256) return `${a.file} has SHA-256 ${got.slice(0, 16)}… and the restore environment's manifest says ${a.sha256.slice(0, 16)}…`;
  return undefined;
}

/** "kernel/fs/btrfs/btrfs.ko" → "btrfs" (the kernel treats - and _ alike: /sys/module uses _). */
export function moduleBaseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}
