import { describe, expect, it } from 'vitest';
import { decode, encode, ErrorCode, TftpDecodeError } from '../../src/tftp/packet.ts';
import { DEFAULT_LIMITS, negotiate } from '../../src/tftp/negotiate.ts';

describe('TFTP codec (RFC 1350, RFC 2347)', () => {
  it('decodes a read request with options, names case-insensitive, mode lower-cased', () => {
    const raw = Buffer.from('\x00\x01undionly.kpxe\x00OCTET\x00BLKSIZE\x001468\x00tsize\x000\x00', 'latin1');
    expect(decode(raw)).toEqual({ op: 'RRQ', filename: 'undionly.kpxe', mode: 'octet', options: { blksize: '1468', tsize: '0' } });
  });

  it('round-trips every packet type', () => {
    const packets = [
      { op: 'RRQ', filename: 'a/b.efi', mode: 'netascii', options: { windowsize: '16' } },
      { op: 'WRQ', filename: 'x', mode: 'octet', options: {} },
      { op: 'DATA', block: 65535, data: Buffer.from('hello') },
      { op: 'ACK', block: 0 },
      { op: 'ERROR', code: ErrorCode.FileNotFound, message: 'file not found' },
      { op: 'OACK', options: { blksize: '1468', tsize: '123' } },
    ] as const;
    for (const p of packets) expect(decode(encode(p))).toEqual(p);
  });

  it('writes block numbers modulo 65536', () => {
    expect(encode({ op: 'DATA', block: 65536, data: Buffer.alloc(0) }).readUInt16BE(2)).toBe(0);
  });

  it.each([
    ['too short', Buffer.from([0, 1, 0])],
    ['unknown opcode', Buffer.from([0, 9, 0, 0])],
    ['unterminated file name', Buffer.from('\x00\x01file', 'latin1')],
    ['request without a mode', Buffer.from('\x00\x01file\x00', 'latin1')],
    ['an option without a value', Buffer.from('\x00\x01f\x00octet\x00blksize\x00', 'latin1')],
  ])('rejects %s', (_what, raw) => {
    expect(() => decode(raw)).toThrow(TftpDecodeError);
  });
});

describe('option negotiation (RFC 2347, 2348, 2349, 7440)', () => {
  it('accepts blksize, timeout, tsize and windowsize and answers the file size', () => {
    const n = negotiate({ blksize: '1468', timeout: '3', tsize: '0', windowsize: '16' }, 40_000_000);
    expect(n).toEqual({ blksize: 1468, windowsize: 16, timeoutMs: 3000, oack: { blksize: '1468', timeout: '3', tsize: '40000000', windowsize: '16' } });
  });

  it('runs plain RFC 1350 with no OACK when no option is asked', () => {
    expect(negotiate({}, 10)).toEqual({ blksize: 512, windowsize: 1, timeoutMs: DEFAULT_LIMITS.defaultTimeoutMs, oack: null });
  });

  it('answers a smaller blksize than asked when above the limit, never a larger one', () => {
    expect(negotiate({ blksize: '65464' }, 1, { ...DEFAULT_LIMITS, maxBlksize: 8192 }).blksize).toBe(8192);
    expect(negotiate({ windowsize: '1000' }, 1).windowsize).toBe(DEFAULT_LIMITS.maxWindowsize);
  });

  it('leaves out options with values out of range or unknown options', () => {
    expect(negotiate({ blksize: '7', timeout: '0', windowsize: '0', foo: 'bar', tsize: 'x' }, 1).oack).toBeNull();
    expect(negotiate({ timeout: '256' }, 1).oack).toBeNull();
  });
});
