/**
 * DHCP option codes this service reads or writes (RFC 2132, RFC 4578, RFC
 * 3004, iPXE's encapsulated option 175), with a value type so that packets can
 * be described as text in golden files and logs. An option not listed here is
 * still decoded and kept: it is shown as hex.
 */

export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  Hostname: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  ClientFqdn: 81,
  RelayAgentInfo: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  Ipxe: 175,
  End: 255,
} as const;

export type OptionType = 'ip' | 'ips' | 'u8' | 'u16' | 'u32' | 'text' | 'hex' | 'codes' | 'u16s';

export const OPTION_INFO: Record<number, { name: string; type: OptionType }> = {
  1: { name: 'subnet-mask', type: 'ip' },
  3: { name: 'router', type: 'ips' },
  6: { name: 'dns-servers', type: 'ips' },
  12: { name: 'hostname', type: 'text' },
  15: { name: 'domain-name', type: 'text' },
  28: { name: 'broadcast-address', type: 'ip' },
  43: { name: 'vendor-specific', type: 'hex' },
  50: { name: 'requested-ip', type: 'ip' },
  51: { name: 'lease-time', type: 'u32' },
  52: { name: 'overload', type: 'u8' },
  53: { name: 'message-type', type: 'u8' },
  54: { name: 'server-id', type: 'ip' },
  55: { name: 'parameter-list', type: 'codes' },
  56: { name: 'message', type: 'text' },
  57: { name: 'max-message-size', type: 'u16' },
  58: { name: 'renewal-time', type: 'u32' },
  59: { name: 'rebinding-time', type: 'u32' },
  60: { name: 'vendor-class', type: 'text' },
  61: { name: 'client-id', type: 'hex' },
  66: { name: 'tftp-server', type: 'text' },
  67: { name: 'bootfile', type: 'text' },
  77: { name: 'user-class', type: 'hex' },
  81: { name: 'client-fqdn', type: 'hex' },
  82: { name: 'relay-agent-info', type: 'hex' },
  93: { name: 'client-arch', type: 'u16s' },
  94: { name: 'client-ndi', type: 'hex' },
  97: { name: 'client-uuid', type: 'hex' },
  175: { name: 'ipxe', type: 'hex' },
};

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

export function messageTypeName(n: number | undefined): MessageTypeName | undefined {
  return (Object.keys(MessageType) as MessageTypeName[]).find((k) => MessageType[k] === n);
}

// ---- value helpers: plain functions over Buffers ----

export function ipToBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  return Buffer.from(parts);
}

export function bytesToIp(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

export function ipToInt(ip: string): number {
  return ipToBytes(ip).readUInt32BE(0);
}

export function intToIp(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return bytesToIp(b);
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
export const ips = (list: readonly string[]): Buffer => Buffer.concat(list.map(ipToBytes));
export const text = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Render an option value as text for logs and golden files. */
export function describeOption(code: number, value: Buffer): string {
  const info = OPTION_INFO[code];
  const name = info?.name ?? `option-${code}`;
  const type = info?.type ?? 'hex';
  const hex = value.toString('hex');
  const fixed = (n: number) => value.length === n;
  let shown: string;
  switch (type) {
    case 'ip':
      shown = fixed(4) ? bytesToIp(value) : `hex:${hex}`;
      break;
    case 'ips':
      shown = value.length % 4 === 0 ? Array.from({ length: value.length / 4 }, (_, i) => bytesToIp(value, i * 4)).join(',') : `hex:${hex}`;
      break;
    case 'u8':
      shown = fixed(1) ? String(value[0]) : `hex:${hex}`;
      break;
    case 'u16':
      shown = fixed(2) ? String(value.readUInt16BE(0)) : `hex:${hex}`;
      break;
    case 'u32':
      shown = fixed(4) ? String(value.readUInt32BE(0)) : `hex:${hex}`;
      break;
    case 'u16s':
      shown = value.length % 2 === 0 ? Array.from({ length: value.length / 2 }, (_, i) => value.readUInt16BE(i * 2)).join(',') : `hex:${hex}`;
      break;
    case 'codes':
      shown = Array.from(value).join(',');
      break;
    case 'text':
      shown = /^[\x20-\x7e]*$/.test(value.toString('latin1')) ? JSON.stringify(value.toString('latin1')) : `hex:${hex}`;
      break;
    default:
      shown = hex;
  }
  return `${code} ${name} = ${shown}`;
}
