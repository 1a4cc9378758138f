/**
 * What a DHCP request says about the machine that sent it: PXE or not, its
 * firmware architecture (RFC 4578 §2.1), UUID (option 97), UNDI version
 * (option 94), and whether iPXE is already running (user class "iPXE",
 * RFC 3004, or iPXE's own option 175).
 */
import { Opt, messageTypeName, type MessageTypeName } from './options.ts';
import { macOf, type DhcpPacket } from './packet.ts';

/** RFC 4578 §2.1 and the IANA "Processor Architecture Types" registry. */
export const Arch = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_X64: 7,
  EFI_BC: 9,
  EFI_ARM32: 10,
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

export type Firmware = 'bios' | 'uefi-x64' | 'uefi-arm64' | 'uefi-x64-http' | 'uefi-arm64-http' | 'unsupported';

export function firmwareOf(arch: number | undefined): Firmware {
  switch (arch) {
    case undefined:
    case Arch.BIOS:
      return 'bios';
    case Arch.EFI_X64:
    case Arch.EFI_BC: // RFC 4578 errata: 9 is what x64 firmware actually sends as "EFI BC"
      return 'uefi-x64';
    case Arch.EFI_ARM64:
      return 'uefi-arm64';
    case Arch.EFI_X64_HTTP:
      return 'uefi-x64-http';
    case Arch.EFI_ARM64_HTTP:
      return 'uefi-arm64-http';
    default:
      return 'unsupported';
  }
}

export interface ClientInfo {
  mac: string;
  messageType: MessageTypeName | undefined;
  /** Option 60 starts with "PXEClient" (PXE spec 2.1 §2.2.5) or "HTTPClient" (UEFI 2.5+ HTTP boot). */
  pxe: boolean;
  httpBoot: boolean;
  /** iPXE is running: user class "iPXE" or option 175 present. */
  ipxe: boolean;
  arch: number | undefined;
  firmware: Firmware;
  uuid: string | undefined;
  undi: { type: number; major: number; minor: number } | undefined;
  vendorClass: string | undefined;
  hostname: string | undefined;
}

/** RFC 3004 user class: a list of length-prefixed strings. Some clients (old iPXE) send one bare string. */
export function userClasses(value: Buffer | undefined): string[] {
  if (!value || value.length === 0) return [];
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    const len = value[i]!;
    if (len === 0 || i + 1 + len > value.length) return [value.toString('latin1')];
    out.push(value.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return out;
}

/** Option 97: type 0 then 16 bytes (PXE spec 2.1; RFC 4578 §2.3). Formatted as the bytes stand. */
export function uuidOf(value: Buffer | undefined): string | undefined {
  if (!value || value.length !== 17 || value[0] !== 0) return undefined;
  const h = value.subarray(1).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function clientInfo(p: DhcpPacket): ClientInfo {
  const vendorClass = p.options.get(Opt.VendorClass)?.toString('latin1');
  const archOpt = p.options.get(Opt.ClientArch);
  const arch = archOpt && archOpt.length >= 2 ? archOpt.readUInt16BE(0) : undefined;
  const ndi = p.options.get(Opt.ClientNdi);
  const userClass = userClasses(p.options.get(Opt.UserClass));
  const host = p.options.get(Opt.Hostname)?.toString('latin1');
  return {
    mac: macOf(p),
    messageType: messageTypeName(p.options.get(Opt.MessageType)?.[0]),
    pxe: vendorClass?.startsWith('PXEClient') === true || vendorClass?.startsWith('HTTPClient') === true,
    httpBoot: vendorClass?.startsWith('HTTPClient') === true || arch === Arch.EFI_X64_HTTP || arch === Arch.EFI_ARM64_HTTP,
    ipxe: userClass.includes('iPXE') || p.options.has(Opt.Ipxe),
    arch,
    firmware: firmwareOf(arch),
    uuid: uuidOf(p.options.get(Opt.ClientUuid)),
    undi: ndi && ndi.length === 3 ? { type: ndi[0]!, major: ndi[1]!, minor: ndi[2]! } : undefined,
    vendorClass,
    hostname: host && /^[\x20-\x7e]+$/.test(host) ? host : undefined,
  };
}
