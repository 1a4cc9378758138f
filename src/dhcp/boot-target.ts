/**
 * Which boot file a network-booting client is told to load. The one place
 * that maps firmware to iPXE binary, so DHCP never chain-loads iPXE into
 * itself: once iPXE runs, it is sent to the boot script instead.
 *
 * UEFI x64 PXE clients get either iPXE or the signed chain (shim → GRUB,
 * which boots with Secure Boot on as well as off) by the admin's rule
 * (`serve --uefi-boot`, or the host's own). UEFI HTTP-boot clients always
 * get iPXE: Debian 12's signed netboot GRUB has no HTTP, so after an HTTP
 * boot it could fetch neither its configuration nor the kernel.
 */
import { bootUrls, type BootEndpoint } from './boot-urls.ts';
import type { ClientInfo } from './client-info.ts';

export interface BootFiles {
  /** iPXE for BIOS PXE ROMs (loaded over TFTP). */
  bios: string;
  /** iPXE for UEFI x64 PXE (loaded over TFTP). */
  uefiX64: string;
  /** iPXE for UEFI ARM64 PXE (loaded over TFTP). */
  uefiArm64: string;
  /** iPXE EFI image for UEFI x64 HTTP boot (loaded over HTTP from /boot/). */
  httpX64: string;
  /** iPXE EFI image for UEFI ARM64 HTTP boot (loaded over HTTP from /boot/). */
  httpArm64: string;
  /** The script iPXE is sent to: over HTTP at /NAME, or over TFTP when HTTP is off. */
  ipxeScript: string;
  /** Debian's signed shim for UEFI x64 PXE (TFTP); it loads grubx64.efi from the same folder. */
  shimX64: string;
}

/** What UEFI x64 PXE clients boot: the signed chain or iPXE. */
export type UefiBoot = 'shim' | 'ipxe';

export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiX64: 'snponly.efi',
  uefiArm64: 'snponly-arm64.efi',
  httpX64: 'ipxe.efi',
  httpArm64: 'ipxe-arm64.efi',
  ipxeScript: 'boot.ipxe',
  shimX64: 'shimx64.efi',
};

export interface BootServer extends BootEndpoint {
  files: BootFiles;
  uefiBoot: UefiBoot;
}

export interface BootTarget {
  /** DHCP `file` field and option 67. */
  file: string;
  /** Option 60 in the reply: PXE firmware wants "PXEClient", UEFI HTTP boot "HTTPClient". */
  vendorClass: 'PXEClient' | 'HTTPClient';
  /** Over TFTP (siaddr and option 66 point at us) or a full http:// URL. */
  via: 'tftp' | 'http';
}

/** The boot target for a client, or a reason why it gets none. */
export function bootTarget(c: ClientInfo, s: BootServer): BootTarget | { none: string } {
  const urls = bootUrls(s);
  if (c.ipxe) {
    if (urls.http) return { file: `${urls.http}/${s.files.ipxeScript}`, vendorClass: 'PXEClient', via: 'http' };
    // A full URL: beside a site DHCP server, iPXE's next-server may be that server, not us.
    if (urls.tftp) return { file: `${urls.tftp}/${s.files.ipxeScript}`, vendorClass: 'PXEClient', via: 'tftp' };
    return { none: 'iPXE client, but both HTTP and TFTP are off' };
  }
  if (c.httpBoot) {
    if (!urls.http) return { none: 'UEFI HTTP boot client, but HTTP is off' };
    const name = c.firmware === 'uefi-arm64-http' ? s.files.httpArm64 : s.files.httpX64;
    return { file: `${urls.http}/boot/${name}`, vendorClass: 'HTTPClient', via: 'http' };
  }
  // PXE ROMs always use port 69 of siaddr: a PXE client needs TFTP there.
  if (s.tftpPort === null) return { none: 'PXE client, but TFTP is off' };
  switch (c.firmware) {
    case 'bios':
      return { file: s.files.bios, vendorClass: 'PXEClient', via: 'tftp' };
    case 'uefi-x64':
      return { file: s.uefiBoot === 'shim' ? s.files.shimX64 : s.files.uefiX64, vendorClass: 'PXEClient', via: 'tftp' };
    case 'uefi-arm64':
      return { file: s.files.uefiArm64, vendorClass: 'PXEClient', via: 'tftp' };
    default:
      return { none: `client architecture ${c.arch} has no boot file` };
  }
}
