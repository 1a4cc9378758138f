/**
 * Read UDP payloads out of a classic pcap file (Ethernet link type), so
 * packets captured from real firmware can be replayed in unit tests.
 */
import { readFileSync } from 'node:fs';

export interface UdpRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Buffer;
}

export function readPcapUdp(path: string): UdpRecord[] {
  const buf = readFileSync(path);
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${path}: not a pcap file`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${path}: link type ${u32(20)} is not Ethernet`);
  const out: UdpRecord[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const len = u32(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    let eth = 12;
    while (frame.readUInt16BE(eth) === 0x8100) eth += 4; // VLAN tags
    if (frame.readUInt16BE(eth) !== 0x0800) continue;
    const ip = frame.subarray(eth + 2);
    if (ip[9] !== 17) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    const ulen = udp.readUInt16BE(4);
    out.push({
      src: `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`,
      dst: `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`,
      sport: udp.readUInt16BE(0),
      dport: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, ulen)),
    });
  }
  return out;
}
