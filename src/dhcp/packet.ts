/**
 * DHCP/BOOTP packet codec, RFC 2131 §2 (fixed header), RFC 2132 (options,
 * §9.3 option overload), RFC 3396 (long options split into several instances).
 * Pure functions over bytes: no sockets, no clocks.
 */
import { bytesToIp, describeOption, ipToBytes, messageTypeName, Opt } from './options.ts';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** Fixed header (236 bytes) plus the magic cookie. */
export const HEADER_SIZE = 240;
/** Older BOOTP relays and PXE ROMs drop replies shorter than a BOOTP packet. */
export const MIN_PACKET_SIZE = 300;
/** RFC 2131 §2: every client must accept 576-byte IP datagrams: 576 - 20 (IP) - 8 (UDP). */
export const DEFAULT_MAX_SIZE = 548;
const FILE_OFFSET = 108;
const SNAME_OFFSET = 44;
/** Largest UDP payload over IPv4. */
const MAX_UDP = 65507;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  /** Bit 15 is BROADCAST (RFC 2131 §2, figure 2). */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The client hardware address, `hlen` bytes. */
  chaddr: Buffer;
  /** Server host name; empty when the field carries options (overload). */
  sname: string;
  /** Boot file name; empty when the field carries options (overload). */
  file: string;
  /** Options in the order first seen; instances of one code are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

/** Internal: a malformed packet from the network; the DHCP server drops it and logs why, no user sees it. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export const BROADCAST_FLAG = 0x8000;

/** `52:54:00:12:34:56` from the chaddr of an Ethernet client. */
export function macOf(p: Pick<DhcpPacket, 'chaddr'>): string {
  return Array.from(p.chaddr, (b) => b.toString(16).padStart(2, '0')).join(':');
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
}

/**
 * Parse one options area into `into`. Pads are skipped; End stops the area;
 * an option that runs past the area is an error (never guessed at).
 * Returns the overload value if the area carried option 52.
 */
function parseOptions(area: Buffer, into: Map<number, Buffer[]>, allowOverload: boolean): number {
  let overload = 0;
  let i = 0;
  while (i < area.length) {
    const code = area[i]!;
    if (code === Opt.Pad) {
      i++;
      continue;
    }
    if (code === Opt.End) return overload;
    if (i + 1 >= area.length) throw new DecodeError(`option ${code} at byte ${i} has no length`);
    const len = area[i + 1]!;
    if (i + 2 + len > area.length) throw new DecodeError(`option ${code} at byte ${i} runs past the end (${len} bytes)`);
    const value = area.subarray(i + 2, i + 2 + len);
    if (code === Opt.Overload) {
      // Option 52 is only meaningful in the options field; inside file/sname it would loop.
      if (!allowOverload) throw new DecodeError('option 52 (overload) inside an overloaded field');
      if (len !== 1 || value[0]! < 1 || value[0]! > 3) throw new DecodeError(`option 52 has a bad value`);
      overload = value[0]!;
    }
    const list = into.get(code);
    if (list) list.push(Buffer.from(value));
    else into.set(code, [Buffer.from(value)]);
    i += 2 + len;
  }
  // RFC 2131 requires End, but many firmwares omit it after padding; the area is bounded, so accept.
  return overload;
}

/** Decode a DHCP packet. Throws DecodeError on anything malformed. */
export function decode(buf: Buffer): DhcpPacket {
  if (buf.length < HEADER_SIZE) throw new DecodeError(`packet too short: ${buf.length} bytes`);
  if (buf.length > MAX_UDP) throw new DecodeError(`packet too long: ${buf.length} bytes`);
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DecodeError(`bad op ${op}`);
  const hlen = buf[2]!;
  if (hlen > 16) throw new DecodeError(`bad hardware address length ${hlen}`);
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) throw new DecodeError('no DHCP magic cookie');

  const lists = new Map<number, Buffer[]>();
  const overload = parseOptions(buf.subarray(HEADER_SIZE), lists, true);
  const fileField = buf.subarray(FILE_OFFSET, FILE_OFFSET + 128);
  const snameField = buf.subarray(SNAME_OFFSET, SNAME_OFFSET + 64);
  // RFC 3396 §5: options field, then file, then sname.
  if (overload & 1) parseOptions(fileField, lists, false);
  if (overload & 2) parseOptions(snameField, lists, false);

  const options = new Map<number, Buffer>();
  for (const [code, parts] of lists) options.set(code, parts.length === 1 ? parts[0]! : Buffer.concat(parts));

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: bytesToIp(buf, 12),
    yiaddr: bytesToIp(buf, 16),
    siaddr: bytesToIp(buf, 20),
    giaddr: bytesToIp(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: overload & 2 ? '' : cString(snameField),
    file: overload & 1 ? '' : cString(fileField),
    options,
  };
}

/** Options as the bytes of one or more TLVs: values over 255 bytes are split (RFC 3396 §7). */
function optionBytes(code: number, value: Buffer): Buffer[] {
  if (value.length === 0) return [Buffer.from([code, 0])];
  const out: Buffer[] = [];
  for (let i = 0; i < value.length; i += 255) {
    const part = value.subarray(i, i + 255);
    out.push(Buffer.concat([Buffer.from([code, part.length]), part]));
  }
  return out;
}

export interface EncodeOptions {
  /** Largest DHCP message the client accepts (its option 57), default 548 (RFC 2131 §2). */
  maxSize?: number;
}

/**
 * Encode a packet. Options that do not fit in `maxSize` spill into the file
 * and sname fields (option 52) when those are unused; a packet that still
 * does not fit is an error rather than a silently truncated reply.
 */
export function encode(p: DhcpPacket, opts: EncodeOptions = {}): Buffer {
  const maxSize = Math.max(DEFAULT_MAX_SIZE, Math.min(opts.maxSize ?? DEFAULT_MAX_SIZE, MAX_UDP));
  if (p.chaddr.length > 16) throw new RangeError('chaddr longer than 16 bytes');
  const fileBytes = Buffer.from(p.file, 'latin1');
  const snameBytes = Buffer.from(p.sname, 'latin1');
  if (fileBytes.length > 127) throw new RangeError(`boot file name longer than 127 bytes: ${p.file}`);
  if (snameBytes.length > 63) throw new RangeError(`server name longer than 63 bytes: ${p.sname}`);

  const header = Buffer.alloc(HEADER_SIZE);
  header[0] = p.op;
  header[1] = p.htype;
  header[2] = p.hlen;
  header[3] = p.hops;
  header.writeUInt32BE(p.xid >>> 0, 4);
  header.writeUInt16BE(p.secs, 8);
  header.writeUInt16BE(p.flags, 10);
  ipToBytes(p.ciaddr).copy(header, 12);
  ipToBytes(p.yiaddr).copy(header, 16);
  ipToBytes(p.siaddr).copy(header, 20);
  ipToBytes(p.giaddr).copy(header, 24);
  p.chaddr.copy(header, 28);
  snameBytes.copy(header, SNAME_OFFSET);
  fileBytes.copy(header, FILE_OFFSET);
  header.writeUInt32BE(MAGIC_COOKIE, 236);

  // Message type first: some PXE ROMs only look for it there.
  const codes = [...p.options.keys()].filter((c) => c !== Opt.Pad && c !== Opt.End && c !== Opt.Overload);
  codes.sort((a, b) => (a === Opt.MessageType ? -1 : b === Opt.MessageType ? 1 : 0));
  const tlvs = codes.flatMap((c) => optionBytes(c, p.options.get(c)!));

  const room = maxSize - HEADER_SIZE - 1; // keep one byte for End
  const total = tlvs.reduce((n, t) => n + t.length, 0);
  if (total <= room) {
    return pad(Buffer.concat([header, ...tlvs, Buffer.from([Opt.End])]));
  }

  // Overload: file first (128), then sname (64), each ending with End.
  const areas: { size: number; field: 'options' | 'file' | 'sname'; parts: Buffer[]; used: number }[] = [
    { size: room - 3, field: 'options', parts: [], used: 0 }, // 3 bytes for option 52
  ];
  if (fileBytes.length === 0) areas.push({ size: 127, field: 'file', parts: [], used: 0 });
  if (snameBytes.length === 0) areas.push({ size: 63, field: 'sname', parts: [], used: 0 });
  // First fit; the pieces of one split option keep their order across areas (RFC 3396 §6).
  const lowest = new Map<number, number>();
  for (const t of tlvs) {
    const code = t[0]!;
    const a = areas.findIndex((x, i) => i >= (lowest.get(code) ?? 0) && x.used + t.length <= x.size);
    if (a < 0) throw new RangeError(`DHCP options do not fit in ${maxSize} bytes`);
    lowest.set(code, a);
    areas[a]!.parts.push(t);
    areas[a]!.used += t.length;
  }
  const used = areas.filter((x) => x.used > 0 && x.field !== 'options');
  const overload = used.reduce((n, x) => n | (x.field === 'file' ? 1 : 2), 0);
  for (const x of used) {
    const bytes = Buffer.concat([...x.parts, Buffer.from([Opt.End])]);
    bytes.copy(header, x.field === 'file' ? FILE_OFFSET : SNAME_OFFSET);
  }
  return pad(Buffer.concat([header, Buffer.from([Opt.Overload, 1, overload]), ...areas[0]!.parts, Buffer.from([Opt.End])]));
}

function pad(b: Buffer): Buffer {
  return b.length >= MIN_PACKET_SIZE ? b : Buffer.concat([b, Buffer.alloc(MIN_PACKET_SIZE - b.length)]);
}

/** A stable text form of a packet for golden files and debug logs. */
export function describe(p: DhcpPacket): string {
  const type = messageTypeName(p.options.get(Opt.MessageType)?.[0]);
  const lines = [
    `op ${p.op === BOOTREQUEST ? 'BOOTREQUEST' : 'BOOTREPLY'} ${type ?? '(BOOTP)'}`,
    `xid 0x${p.xid.toString(16).padStart(8, '0')} secs ${p.secs} flags 0x${p.flags.toString(16).padStart(4, '0')} hops ${p.hops}`,
    `chaddr ${macOf(p)} htype ${p.htype} hlen ${p.hlen}`,
    `ciaddr ${p.ciaddr} yiaddr ${p.yiaddr} siaddr ${p.siaddr} giaddr ${p.giaddr}`,
    `sname ${JSON.stringify(p.sname)} file ${JSON.stringify(p.file)}`,
    ...[...p.options].map(([code, value]) => describeOption(code, value)),
  ];
  return lines.join('\n') + '\n';
}
