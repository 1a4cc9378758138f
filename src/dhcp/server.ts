/**
 * The DHCP edge: two UDP sockets (67 and the PXE port 4011), each packet
 * decoded, decided and answered. Bad input is logged at debug and dropped;
 * only a socket failure stops the server.
 *
 * DHCP sockets bind to 0.0.0.0 because broadcasts are not delivered to a
 * socket bound to a unicast address; SO_BINDTODEVICE (when an interface is
 * known) keeps them to one network.
 */
import dgram from 'node:dgram';
import { bindError } from '../shared/errors.ts';
import type { Logger } from '../log.ts';
import { bindToDevice } from '../net/bind-to-device.ts';
import type { DhcpHooks } from '../metrics/hooks.ts';
import { decide, type DhcpPolicy, type HostLookup, type Request } from './decide.ts';
import type { Lease, LeaseTable } from './leases.ts';
import { decode, encode, macOf } from './packet.ts';

export interface DhcpServerOptions {
  dhcpPort: number;
  proxyPort: number;
  /** Bind both sockets to this interface (SO_BINDTODEVICE). */
  ifname: string | undefined;
  policy: DhcpPolicy;
  hosts: HostLookup;
  leases: { table: LeaseTable; put(lease: Lease): void };
  log: Logger;
  now?: () => number;
  /** Called with every MAC that sent a valid request. */
  onSeen?: (mac: string) => void;
  /** Counters (metrics/hooks.ts). */
  hooks?: DhcpHooks;
}

export interface DhcpServer {
  ports: { dhcp: number; pxe: number };
  close(): Promise<void>;
}

function openSocket(port: number, ifname: string | undefined, flag: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    // A deep receive queue rides out a pause (GC, a database write) when a room of servers boots at once.
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    sock.once('error', (err) => reject(bindError(err, 'DHCP', '0.0.0.0', port, flag)));
    sock.bind(port, '0.0.0.0', () => {
      try {
        sock.setBroadcast(true);
        if (ifname) bindToDevice(sock, ifname);
      } catch (err) {
        sock.close();
        reject(err);
        return;
      }
      sock.removeAllListeners('error');
      resolve(sock);
    });
  });
}

export async function startDhcpServer(o: DhcpServerOptions): Promise<DhcpServer> {
  const now = o.now ?? Date.now;
  const dhcpSock = await openSocket(o.dhcpPort, o.ifname, '--dhcp-port');
  let pxeSock: dgram.Socket;
  try {
    pxeSock = await openSocket(o.proxyPort, o.ifname, '--proxy-port');
  } catch (err) {
    dhcpSock.close();
    throw err;
  }

  const handle = (sock: dgram.Socket, port: Request['port']) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const from = { address: rinfo.address, port: rinfo.port };
    let packet;
    try {
      packet = decode(msg);
    } catch (err) {
      o.log.debug('dhcp.drop', { from: `${from.address}:${from.port}`, bytes: msg.length, reason: (err as Error).message });
      o.hooks?.ignored('undecodable');
      return;
    }
    let d;
    try {
      d = decide({ packet, port, from }, o.policy, o.hosts, o.leases.table, now());
      // The lease is stored before the reply leaves: an ACK is never sent for a lease that was not kept.
      if (d.lease) o.leases.put(d.lease);
      if (d.client) o.onSeen?.(d.client.mac);
      o.hooks?.request(port, d.client?.messageType ?? 'none');
      // A request on the boot server port: this firmware follows our offers.
      if (port === 'pxe' && d.client) o.hooks?.followed?.(d.client.mac);
    } catch (err) {
      o.log.error('dhcp.error', { mac: macOf(packet), reason: (err as Error).message });
      return;
    }
    if (d.kind === 'ignore') {
      o.log.debug('dhcp.ignore', { mac: macOf(packet), type: d.client?.messageType, port, reason: d.reason });
      o.hooks?.ignored(d.reason);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = encode(d.packet, { maxSize: d.maxSize });
    } catch (err) {
      o.log.warn('dhcp.encode-failed', { mac: d.client.mac, reason: (err as Error).message });
      return;
    }
    sock.send(bytes, d.to.port, d.to.address, (err) => {
      if (err) {
        o.log.warn('dhcp.send-failed', { mac: d.client.mac, to: `${d.to.address}:${d.to.port}`, reason: err.message });
        return;
      }
      o.hooks?.reply(port, d.type);
      if (d.type === 'OFFER' && port === 'dhcp') o.hooks?.offered?.(d.client.mac);
      o.log.info('dhcp.reply', {
        type: d.type,
        mac: d.client.mac,
        ip: d.packet.yiaddr !== '0.0.0.0' ? d.packet.yiaddr : undefined,
        arch: d.client.arch,
        ipxe: d.client.ipxe || undefined,
        file: d.packet.options.get(67)?.toString('latin1'),
        to: `${d.to.address}:${d.to.port}`,
      });
    });
  };

  for (const [sock, port] of [[dhcpSock, 'dhcp'], [pxeSock, 'pxe']] as const) {
    sock.on('message', handle(sock, port));
    sock.on('error', (err) => o.log.error('dhcp.socket-error', { port, reason: err.message }));
  }

  return {
    ports: { dhcp: dhcpSock.address().port, pxe: pxeSock.address().port },
    close: () =>
      Promise.all([dhcpSock, pxeSock].map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}
