import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { Opt, ips, text } from '../../src/dhcp/options.ts';
import { decode, describe, encode, DecodeError, MAGIC_COOKIE, MIN_PACKET_SIZE } from '../../src/dhcp/packet.ts';
import { request } from '../helpers/dhcp.ts';
import { golden } from '../helpers/golden.ts';
import { readPcapUdp } from '../helpers/pcap.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/dhcp');
const captures = readdirSync(FIXTURES).filter((f) => f.endsWith('.pcap'));


suite('DHCP codec over packets captured from real clients', () => {
  it('has captures of udhcpc, dhclient, iPXE (BIOS) and OVMF UEFI PXE', () => {
    expect(captures.sort()).toEqual(['dhclient.pcap', 'ipxe-bios.pcap', 'ovmf.pcap', 'udhcpc.pcap']);
  });

  for (const file of captures) {
    it(`${file}: decodes to the stored text form`, () => {
      const text = readPcapUdp(join(FIXTURES, file))
        .map((r) => `-- ${r.src}:${r.sport} -> ${r.dst}:${r.dport}\n${describe(decode(r.payload))}`)
        .join('\n');
      golden(join(FIXTURES, file.replace('.pcap', '.txt')), text);
    });

    it(`${file}: every packet survives encode → decode unchanged`, () => {
      for (const r of readPcapUdp(join(FIXTURES, file))) {
        const p = decode(r.payload);
        const again = decode(encode(p, { maxSize: 1500 }));
        expect(again).toEqual(p);
      }
    });
  }
});

suite('DHCP codec rules', () => {
  it('pads replies to the 300-byte BOOTP minimum and ends options with End', () => {
    const bytes = encode(request({ type: 'DISCOVER' }));
    expect(bytes.length).toBe(MIN_PACKET_SIZE);
    expect(bytes.readUInt32BE(236)).toBe(MAGIC_COOKIE);
    expect(bytes.subarray(240, 244)).toEqual(Buffer.from([53, 1, 1, 255]));
  });

  it('splits an option longer than 255 bytes and joins it again (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const p = request({ type: 'DISCOVER', extra: [[Opt.VendorSpecific, long]] });
    const bytes = encode(p, { maxSize: 1500 });
    const starts = [...bytes.subarray(240)].map((b, i, a) => (b === 43 && (a[i + 1] === 255 || a[i + 1] === 90) ? i : -1)).filter((i) => i >= 0);
    expect(starts.length).toBeGreaterThanOrEqual(3);
    expect(decode(bytes).options.get(Opt.VendorSpecific)).toEqual(long);
  });

  it('overloads file and sname (option 52) when options do not fit the client maximum', () => {
    const p = request({ type: 'DISCOVER', extra: [[Opt.Message, text('x'.repeat(250))], [230, Buffer.alloc(70, 1)], [Opt.Hostname, text('h'.repeat(120))], [Opt.DomainName, text('d'.repeat(55))]] });
    const bytes = encode(p, { maxSize: 576 });
    expect(bytes.length).toBeLessThanOrEqual(576);
    expect(bytes.subarray(240).includes(Buffer.from([52, 1]))).toBe(true);
    const back = decode(bytes);
    expect(back.options.get(Opt.Message)?.toString()).toBe('x'.repeat(250));
    expect(back.options.get(Opt.Hostname)?.toString()).toBe('h'.repeat(120));
    expect(back.options.get(Opt.DomainName)?.toString()).toBe('d'.repeat(55));
    expect(back.options.get(Opt.Overload)).toEqual(Buffer.from([3]));
    expect(back.file).toBe('');
  });

  it('refuses to build a reply that cannot fit rather than cutting it', () => {
    const p = request({ type: 'DISCOVER', extra: Array.from({ length: 10 }, (_, i): [number, Buffer] => [200 + i, Buffer.alloc(200)]) });
    p.file = 'undionly.kpxe';
    expect(() => encode(p, { maxSize: 576 })).toThrow(/do not fit/);
  });

  it('reads options overloaded into the file and sname fields, in RFC 3396 order', () => {
    const bytes = Buffer.from(encode(request({ type: 'REQUEST' })));
    // options: 52 = 3 (both), 53; file: 12 (hostname) ; sname: 12 again (concatenated after file's)
    bytes.fill(0, 240);
    Buffer.from([52, 1, 3, 53, 1, 3, 255]).copy(bytes, 240);
    Buffer.from([12, 3, 0x61, 0x62, 0x63, 255]).copy(bytes, 108);
    Buffer.from([0, 0, 12, 2, 0x64, 0x65, 255]).copy(bytes, 44);
    const p = decode(bytes);
    expect(p.options.get(Opt.Hostname)?.toString()).toBe('abcde');
    expect(p.file).toBe('');
    expect(p.sname).toBe('');
  });

  it('skips pad options anywhere in the options area', () => {
    const bytes = Buffer.from(encode(request({ type: 'DISCOVER' })));
    Buffer.from([0, 0, 0, 53, 1, 1, 0, 50, 4, 10, 0, 0, 9, 255]).copy(bytes, 240);
    const p = decode(bytes);
    expect([...p.options.keys()]).toEqual([53, 50]);
    expect(p.options.get(50)).toEqual(ips(['10.0.0.9']));
  });

  const good = () => Buffer.from(encode(request({ type: 'DISCOVER' })));
  const bad: [string, () => Buffer, RegExp][] = [
    ['a truncated header', () => good().subarray(0, 200), /too short/],
    ['a wrong magic cookie', () => { const b = good(); b.writeUInt32BE(0xdeadbeef, 236); return b; }, /cookie/],
    ['an option running past the end', () => { const b = good().subarray(0, 245); b[240] = 12; b[241] = 200; return b; }, /runs past/],
    ['an option with no length byte', () => { const b = good().subarray(0, 241); b[240] = 12; return b; }, /no length/],
    ['option 52 inside an overloaded field (a loop)', () => { const b = good(); Buffer.from([52, 1, 1, 255]).copy(b, 240); Buffer.from([52, 1, 1, 255]).copy(b, 108); return b; }, /overload/],
    ['a bad overload value', () => { const b = good(); Buffer.from([52, 1, 9, 255]).copy(b, 240); return b; }, /52/],
    ['a hardware address longer than 16 bytes', () => { const b = good(); b[2] = 17; return b; }, /hardware/],
    ['a bad op code', () => { const b = good(); b[0] = 3; return b; }, /op/],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what} with a DecodeError`, () => {
      expect(() => decode(make())).toThrow(DecodeError);
      expect(() => decode(make())).toThrow(message);
    });
  }
});
