/**
 * TFTP packet codec: RFC 1350 §5 (RRQ, WRQ, DATA, ACK, ERROR) and RFC 2347
 * (options on requests, OACK). Pure functions over bytes.
 */

export const Op = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 appendix and RFC 2347 (8). */
export const ErrorCode = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTid: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8,
} as const;

export type TftpPacket =
  | ReadRequest
  | { op: 'WRQ'; filename: string; mode: string; options: Record<string, string> }
  | { op: 'DATA'; block: number; data: Buffer }
  | { op: 'ACK'; block: number }
  | { op: 'ERROR'; code: number; message: string }
  | { op: 'OACK'; options: Record<string, string> };

export interface ReadRequest {
  op: 'RRQ';
  filename: string;
  /** Lower-cased: "octet" or "netascii" ("mail" is obsolete). */
  mode: string;
  /** Option names lower-cased (RFC 2347: case-insensitive). */
  options: Record<string, string>;
}

/** Internal: a malformed packet from the network; the TFTP server drops it and logs why, no user sees it. */
export class TftpDecodeError extends Error {
  override name = 'TftpDecodeError';
}

/** Split NUL-terminated strings; the last one must be terminated too. */
function strings(buf: Buffer, max: number): string[] {
  if (buf.length === 0) return [];
  if (buf[buf.length - 1] !== 0) throw new TftpDecodeError('string not NUL-terminated');
  const parts = buf.subarray(0, buf.length - 1).toString('latin1').split('\0');
  if (parts.length > max) throw new TftpDecodeError('too many fields');
  return parts;
}

function optionPairs(list: string[]): Record<string, string> {
  if (list.length % 2 !== 0) throw new TftpDecodeError('option without a value');
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    // RFC 2347: option names are case-insensitive; the first instance wins.
    const name = list[i]!.toLowerCase();
    if (name === '') throw new TftpDecodeError('empty option name');
    if (!(name in out)) out[name] = list[i + 1]!;
  }
  return out;
}

export function decode(buf: Buffer): TftpPacket {
  if (buf.length < 4) throw new TftpDecodeError(`packet too short: ${buf.length} bytes`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case Op.RRQ:
    case Op.WRQ: {
      const [filename, mode, ...rest] = strings(buf.subarray(2), 64);
      if (!filename || mode === undefined) throw new TftpDecodeError('request without filename or mode');
      return { op: op === Op.RRQ ? 'RRQ' : ('WRQ' as const), filename, mode: mode.toLowerCase(), options: optionPairs(rest) };
    }
    case Op.DATA:
      return { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case Op.ACK:
      return { op: 'ACK', block: buf.readUInt16BE(2) };
    case Op.ERROR: {
      const end = buf.indexOf(0, 4);
      return { op: 'ERROR', code: buf.readUInt16BE(2), message: buf.subarray(4, end < 0 ? buf.length : end).toString('latin1') };
    }
    case Op.OACK:
      return { op: 'OACK', options: optionPairs(strings(buf.subarray(2), 64)) };
    default:
      throw new TftpDecodeError(`unknown opcode ${op}`);
  }
}

const z = (s: string) => Buffer.from(s + '\0', 'latin1');
const op16 = (n: number, m?: number) => {
  const b = Buffer.alloc(m === undefined ? 2 : 4);
  b.writeUInt16BE(n, 0);
  if (m !== undefined) b.writeUInt16BE(m & 0xffff, 2);
  return b;
};

export function encode(p: TftpPacket): Buffer {
  switch (p.op) {
    case 'RRQ':
    case 'WRQ':
      return Buffer.concat([op16(Op[p.op]), z(p.filename), z(p.mode), ...Object.entries(p.options).flatMap(([k, v]) => [z(k), z(v)])]);
    case 'DATA':
      return Buffer.concat([op16(Op.DATA, p.block), p.data]);
    case 'ACK':
      return op16(Op.ACK, p.block);
    case 'ERROR':
      return Buffer.concat([op16(Op.ERROR, p.code), z(p.message)]);
    case 'OACK':
      return Buffer.concat([op16(Op.OACK), ...Object.entries(p.options).flatMap(([k, v]) => [z(k), z(v)])]);
  }
}

/** A DATA packet header written in place before `data` (avoids a copy per block on the hot path). */
export function dataHeader(into: Buffer, block: number): void {
  into.writeUInt16BE(Op.DATA, 0);
  into.writeUInt16BE(block & 0xffff, 2);
}
