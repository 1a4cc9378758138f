/**
 * Whether the firmware booted this machine with Secure Boot on, as the
 * kernel itself logs it early at boot ("secureboot: Secure boot enabled";
 * efivarfs is a module Debian's kernel would have to load first). Under
 * Secure Boot Debian's kernel runs in lockdown (integrity): nothing the
 * agent does needs what lockdown forbids (it reads and writes block
 * devices, mounts, talks HTTP; no kexec, no /dev/mem, no unsigned module).
 */
import { execa } from 'execa';

/** From the kernel log: true, false, or undefined when it says nothing (a BIOS machine). */
export function secureBootFromLog(log: string): boolean | undefined {
  if (/secureboot: Secure boot enabled/.test(log)) return true;
  if (/secureboot: Secure boot disabled/.test(log)) return false;
  return undefined;
}

export async function secureBoot(): Promise<boolean | undefined> {
  const r = await execa('dmesg', [], { reject: false });
  return secureBootFromLog(String(r.stdout ?? ''));
}
