/** Build DHCP requests for tests, the way clients shape them. */
import { clientInfo } from '../../src/dhcp/client-info.ts';
import type { DhcpPolicy, Request } from '../../src/dhcp/decide.ts';
import { DEFAULT_BOOT_FILES } from '../../src/dhcp/boot-target.ts';
import { MessageType, Opt, ips, text, u16, u8, type MessageTypeName } from '../../src/dhcp/options.ts';
import { BOOTREQUEST, type DhcpPacket } from '../../src/dhcp/packet.ts';

export interface RequestShape {
  type: MessageTypeName;
  mac?: string;
  xid?: number;
  /** RFC 4578 architecture; sets option 60 PXEClient:Arch:… and option 93. */
  arch?: number;
  ipxe?: boolean;
  httpClient?: boolean;
  ciaddr?: string;
  giaddr?: string;
  requested?: string;
  serverId?: string;
  broadcast?: boolean;
  extra?: [number, Buffer][];
}

export function request(s: RequestShape): DhcpPacket {
  const options = new Map<number, Buffer>([[Opt.MessageType, u8(MessageType[s.type])]]);
  if (s.arch !== undefined) {
    const vc = `${s.httpClient ? 'HTTPClient' : 'PXEClient'}:Arch:${String(s.arch).padStart(5, '0')}:UNDI:003016`;
    options.set(Opt.VendorClass, text(vc));
    options.set(Opt.ClientArch, u16(s.arch));
    options.set(Opt.ClientNdi, Buffer.from([1, 3, 16]));
    options.set(Opt.ClientUuid, Buffer.concat([Buffer.from([0]), Buffer.from('00112233445566778899aabbccddeeff', 'hex')]));
  }
  if (s.ipxe) options.set(Opt.UserClass, Buffer.from('\x04iPXE', 'latin1'));
  if (s.requested) options.set(Opt.RequestedIp, ips([s.requested]));
  if (s.serverId) options.set(Opt.ServerId, ips([s.serverId]));
  for (const [code, value] of s.extra ?? []) options.set(code, value);
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: s.xid ?? 0x1234abcd,
    secs: 0,
    flags: s.broadcast ? 0x8000 : 0,
    ciaddr: s.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: s.giaddr ?? '0.0.0.0',
    chaddr: Buffer.from((s.mac ?? '52:54:00:00:00:01').split(':').map((h) => parseInt(h, 16))),
    sname: '',
    file: '',
    options,
  };
}

export const onDhcpPort = (packet: DhcpPacket): Request => ({ packet, port: 'dhcp', from: { address: '0.0.0.0', port: 68 } });
export const onPxePort = (packet: DhcpPacket, address = '10.0.0.50', port = 4011): Request => ({ packet, port: 'pxe', from: { address, port } });

export const SERVER = '10.0.0.1';

export function proxyPolicy(over: Partial<DhcpPolicy['boot']> = {}): DhcpPolicy {
  return { mode: 'proxy', boot: { serverIp: SERVER, httpPort: 8080, tftpPort: 69, files: DEFAULT_BOOT_FILES, uefiBoot: 'ipxe', ...over }, full: undefined };
}

export function fullPolicy(first = '10.0.0.100', last = '10.0.0.102'): DhcpPolicy {
  return {
    mode: 'full',
    boot: proxyPolicy().boot,
    full: {
      pool: { first, last, subnetMask: '255.255.255.0', reserved: [SERVER, '10.0.0.254'] },
      router: '10.0.0.254',
      dns: ['10.0.0.53'],
      domain: 'lab.example',
      leaseSeconds: 3600,
    },
  };
}

export { clientInfo };
