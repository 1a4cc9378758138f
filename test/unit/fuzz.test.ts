/**
 * Fuzzing the pure cores with mutations of real captured packets: decoders
 * may only reject with their own error, decisions never throw, and every
 * reply they build encodes.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/dhcp/decide.ts';
import { Leases } from '../../src/dhcp/leases.ts';
import { decode, DecodeError, encode } from '../../src/dhcp/packet.ts';
import { decode as tftpDecode, encode as tftpEncode, TftpDecodeError } from '../../src/tftp/packet.ts';
import { negotiate } from '../../src/tftp/negotiate.ts';
import { fullPolicy, proxyPolicy } from '../helpers/dhcp.ts';
import { mutate, rng } from '../helpers/mutate.ts';
import { readPcapUdp } from '../helpers/pcap.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/dhcp');
const seeds = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.pcap'))
  .flatMap((f) => readPcapUdp(join(FIXTURES, f)).map((r) => r.payload));

describe('fuzz', () => {
  it('DHCP: 30,000 mutated captured packets never crash decode, decide or encode', () => {
    const r = rng(20261124);
    let decoded = 0;
    let replies = 0;
    for (let i = 0; i < 30_000; i++) {
      const bytes = mutate(seeds[i % seeds.length]!, r);
      let p;
      try {
        p = decode(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        continue;
      }
      decoded++;
      for (const policy of [proxyPolicy(), fullPolicy()]) {
        const d = decide({ packet: p, port: i % 2 ? 'dhcp' : 'pxe', from: { address: '10.0.0.9', port: 68 } }, policy, () => undefined, new Leases(), 0);
        if (d.kind === 'reply') {
          replies++;
          const out = decode(encode(d.packet, { maxSize: d.maxSize }));
          expect(out.xid).toBe(p.xid);
        }
      }
    }
    // The mutations must leave enough valid packets to exercise the decision.
    expect(decoded).toBeGreaterThan(5_000);
    expect(replies).toBeGreaterThan(500);
  });

  it('TFTP: 30,000 mutated requests never crash decode or negotiation', () => {
    const r = rng(7);
    const base = [
      tftpEncode({ op: 'RRQ', filename: 'undionly.kpxe', mode: 'octet', options: { blksize: '1468', tsize: '0', windowsize: '16', timeout: '2' } }),
      tftpEncode({ op: 'ACK', block: 7 }),
      tftpEncode({ op: 'ERROR', code: 0, message: 'cancelled' }),
    ];
    for (let i = 0; i < 30_000; i++) {
      const bytes = mutate(base[i % base.length]!, r);
      try {
        const p = tftpDecode(bytes);
        if (p.op === 'RRQ') {
          const n = negotiate(p.options, 12345);
          expect(n.blksize).toBeGreaterThanOrEqual(8);
          expect(n.blksize).toBeLessThanOrEqual(65464);
          expect(n.windowsize).toBeGreaterThanOrEqual(1);
        }
      } catch (err) {
        expect(err).toBeInstanceOf(TftpDecodeError);
      }
    }
  });
});
