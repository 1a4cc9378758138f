/**
 * Whether the firmware booted this machine with Secure Boot on: the UEFI
 * variable SecureBoot (init mounts efivarfs). Under Secure Boot Debian's
 * kernel runs in lockdown (integrity): nothing the agent does needs what
 * lockdown forbids (raw block devices, sockets and its own modules'
 * loading stay allowed; /dev/mem, kexec, unsigned modules do not).
 */
import { readFile } from 'node:fs/promises';

export const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d0-aa0d-00e098032b8c';

/** efivarfs gives 4 bytes of attributes, then the value: 1 is on. undefined: no such variable (BIOS, or not UEFI). */
export function secureBootFrom(bytes: Buffer | undefined): boolean | undefined {
  if (!bytes || bytes.length < 5) return undefined;
  return bytes[4] === 1;
}

export async function secureBoot(): Promise<boolean | undefined> {
  return secureBootFrom(await readFile(SECURE_BOOT_VAR).catch(() => undefined));
}
