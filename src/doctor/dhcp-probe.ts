/**
 * Send one PXE-style DISCOVER out of an interface and gather the OFFERs
 * that come back for a few seconds. The socket is bound to the interface
 * (SO_BINDTODEVICE), so the probe stays on the network it names, also inside
 * a network namespace. The client MAC is a random locally administered one:
 * nothing is ever requested, so no server keeps a lease for it.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { bindToDevice } from '../net/bind-to-device.ts';
import { MessageType, Opt } from '../dhcp/options.ts';
import { BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, decode, encode } from '../dhcp/packet.ts';
import type { HeardOffer } from './offers.ts';

const PXE_CLASS = 'PXEClient:Arch:00000:UNDI:002001';

function discover(xid: number, mac: Buffer): Buffer {
  const options = new Map<number, Buffer>([
    [Opt.MessageType, Buffer.from([MessageType.DISCOVER])],
    [Opt.ParameterList, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97])],
    [Opt.VendorClass, Buffer.from(PXE_CLASS, 'latin1')],
    [Opt.ClientArch, Buffer.from([0, 0])],
    [Opt.ClientNdi, Buffer.from([1, 2, 1])],
    [Opt.ClientUuid, Buffer.concat([Buffer.from([0]), randomBytes(16)])],
  ]);
  return encode({ op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid, secs: 4, flags: BROADCAST_FLAG, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr: mac, sname: '', file: '', options });
}

/** Resolves with the offers heard; rejects when port 68 cannot be bound (a DHCP client holds it). */
export async function probeOffers(ifname: string, seconds: number, ports = { server: 67, client: 68 }): Promise<HeardOffer[]> {
  const xid = randomBytes(4).readUInt32BE(0);
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfe) | 0x02; // locally administered, unicast
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(ports.client, '0.0.0.0', () => {
      sock.off('error', reject);
      resolve();
    });
  });
  const offers: HeardOffer[] = [];
  try {
    sock.setBroadcast(true);
    bindToDevice(sock, ifname);
    sock.on('message', (msg, rinfo) => {
      let p;
      try {
        p = decode(msg);
      } catch {
        return;
      }
      if (p.op !== BOOTREPLY || p.xid !== xid || p.options.get(Opt.MessageType)?.[0] !== MessageType.OFFER) return;
      const sid = p.options.get(Opt.ServerId);
      const boot: Record<string, string> = {};
      for (const [code, name] of [[Opt.VendorClass, 'option 60'], [Opt.TftpServerName, 'option 66'], [Opt.BootfileName, 'option 67']] as const) {
        const v = p.options.get(code);
        if (v) boot[name] = v.toString('latin1').replace(/\0+$/, '');
      }
      if (p.file) boot['file field'] = p.file;
      offers.push({ server: sid && sid.length === 4 ? [...sid].join('.') : rinfo.address, yiaddr: p.yiaddr, siaddr: p.siaddr, bootOptions: boot });
    });
    const packet = discover(xid, mac);
    // Twice, a second apart: one lost broadcast must not hide a server.
    sock.send(packet, ports.server, '255.255.255.255');
    await new Promise((r) => setTimeout(r, Math.min(1000, (seconds * 1000) / 2)));
    sock.send(packet, ports.server, '255.255.255.255');
    await new Promise((r) => setTimeout(r, Math.max(0, seconds * 1000 - 1000)));
  } finally {
    sock.close();
  }
  return offers;
}
