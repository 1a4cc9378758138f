/**
 * Names that reach a boot script or a kernel command line, checked where
 * they enter (command line, admin API, menu login): a disk device and a
 * host's name. Image names are checked by `checkName` (format.ts).
 */
import { NetrestoreError } from './errors.ts';

/**
 * A block device as the restore environment names it: `sda`, `/dev/nvme0n1`,
 * `/dev/disk/by-id/ata-…`, `/dev/disk/by-path/pci-0000:00:17.0-ata-1`.
 * Segments of letters, digits and `. _ - : + @`; no spaces, no shell or iPXE
 * characters, no `.` or `..` segment, nothing outside /dev.
 */
const DISK_SEGMENT = /^[A-Za-z0-9._:+@-]+$/;

export function isDiskPath(v: string): boolean {
  if (v.length === 0 || v.length > 255) return false;
  const rest = v.startsWith('/dev/') ? v.slice(5) : v;
  if (rest.startsWith('/')) return false;
  return rest.split('/').every((s) => DISK_SEGMENT.test(s) && s !== '.' && s !== '..');
}

export function checkDiskPath(v: string): void {
  if (!isDiskPath(v)) throw new NetrestoreError('DISK_PATH', `disk ${JSON.stringify(v.slice(0, 100))} is not a device name: give one like sda, /dev/nvme0n1 or /dev/disk/by-id/NAME (letters, digits and . _ - : + @; no spaces)`);
}

/** A host's name as the menu shows it: 1 to 64 of letters, digits, space and . _ - ( ) + , */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._()+,-]{0,63}$/;

export function checkHostName(v: string): void {
  if (!HOST_NAME_PATTERN.test(v)) throw new NetrestoreError('HOST_NAME', `host name ${JSON.stringify(v.slice(0, 100))} is not allowed: up to 64 letters, digits, spaces and . _ - ( ) + , starting with a letter or digit`);
}
