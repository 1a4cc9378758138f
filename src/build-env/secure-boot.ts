/**
 * The Secure Boot chain build-env places beside the iPXE files, all from
 * Debian's packages, nothing signed by us: shim (signed by the Microsoft
 * UEFI CA that firmware trusts), Debian's netboot GRUB (signed by Debian,
 * which shim trusts) and the kernel that is already the environment's.
 * Each is checked for its signature first: a build that cannot boot under
 * Secure Boot says so here, not on the admin's machine during an outage.
 */
import { readFile } from 'node:fs/promises';
import type { Need } from '../host-packages.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { moduleSigned, peSigners } from './signatures.ts';

export interface SignedFile {
  /** Where Debian puts it. */
  from: string;
  /** The name in the boot directory: shim loads `grubx64.efi` from the folder it was itself loaded from. */
  name: string;
  /** Part of the signer's name the file must carry. */
  signer: string;
}

export const SIGNED_CHAIN: readonly SignedFile[] = [
  { from: '/usr/lib/shim/shimx64.efi.signed', name: 'shimx64.efi', signer: 'Microsoft' },
  { from: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', name: 'grubx64.efi', signer: 'Debian Secure Boot' },
];

export const SIGNED_CHAIN_NEEDS: Need[] = [
  ['/usr/lib/shim/shimx64.efi.signed', 'shim-signed'],
  ['/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', 'grub-efi-amd64-signed'],
];

export interface SecureBootReport {
  /** Who signed the kernel (empty: unsigned, and the signed chain stops at it). */
  kernelSigners: string[];
  /** Modules in the initrd without their appended signature (none: a locked-down kernel loads them all). */
  unsignedModules: string[];
}

/** The signed first stages, checked; throws BUILD_ENV when one lacks its signature (a broken package). */
export async function signedChain(): Promise<{ name: string; data: Buffer }[]> {
  return Promise.all(
    SIGNED_CHAIN.map(async (f) => {
      const data = await readFile(f.from);
      if (!peSigners(data).some((n) => n.includes(f.signer))) {
        throw new NetrestoreError('BUILD_ENV', `${f.from} carries no signature by ${f.signer}: reinstall its package (\`apt-get install --reinstall ${f.from.includes('shim') ? 'shim-signed' : 'grub-efi-amd64-signed'}\`) and run \`netrestore build-env\` again`);
      }
      return { name: f.name, data };
    }),
  );
}

/** The kernel's signers, and the modules that would not load under lockdown. */
export function secureBootReport(kernel: Buffer, modules: { path: string; data: Buffer }[]): SecureBootReport {
  return {
    kernelSigners: peSigners(kernel),
    // A compressed module carries its signature inside: only plain .ko files are checked.
    unsignedModules: modules.filter((m) => m.path.endsWith('.ko') && !moduleSigned(m.data)).map((m) => m.path),
  };
}
