/**
 * The DHCP decision: given one decoded request, what (if anything) to answer.
 * Pure: hosts, leases and the clock come in as plain data; the lease to store
 * goes out with the reply. ProxyDHCP follows the PXE 2.1 specification §2.2;
 * full mode follows RFC 2131 §4.3.
 */
import { bootTarget, type BootServer, type BootTarget, type UefiBoot } from './boot-target.ts';
import { clientInfo, type ClientInfo } from './client-info.ts';
import { chooseAddress, inPool, isFreeFor, sameSubnet, type Lease, type LeaseTable, type Pool } from './leases.ts';
import { ips, MessageType, Opt, text, u32, u8, type MessageTypeName } from './options.ts';
import { BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, type DhcpPacket } from './packet.ts';

export interface FullModePolicy {
  pool: Pool;
  router: string | undefined;
  dns: readonly string[];
  domain: string | undefined;
  leaseSeconds: number;
}

export interface DhcpPolicy {
  mode: 'proxy' | 'full';
  boot: BootServer;
  full: FullModePolicy | undefined;
}

export interface HostView {
  ignore: boolean;
  /** This host's own rule for UEFI x64 PXE (null: the server's). */
  uefiBoot?: UefiBoot | null;
}
export type HostLookup = (mac: string) => HostView | undefined;

export interface Request {
  packet: DhcpPacket;
  /** The local port it arrived on: 67 (DHCP) or 4011 (PXE boot server). */
  port: 'dhcp' | 'pxe';
  /** The sender, for replies on the PXE port which go back where they came from. */
  from: { address: string; port: number };
}

export type Decision =
  | { kind: 'reply'; type: MessageTypeName; packet: DhcpPacket; to: { address: string; port: number }; maxSize: number; lease?: Lease; client: ClientInfo }
  | { kind: 'ignore'; reason: string; lease?: Lease; client?: ClientInfo };

const OFFER_HOLD_MS = 60_000;
const DECLINE_HOLD_MS = 10 * 60_000;
const ZERO = '0.0.0.0';

/** Option 43 for PXE clients: PXE_DISCOVERY_CONTROL = 8, "boot the file in this offer, skip discovery". */
const PXE_VENDOR_OPTIONS = Buffer.from([6, 1, 8, 255]);

export function decide(req: Request, policy: DhcpPolicy, hosts: HostLookup, leases: LeaseTable, now: number): Decision {
  const p = req.packet;
  if (p.op !== BOOTREQUEST) return { kind: 'ignore', reason: 'not a BOOTREQUEST' };
  if (p.htype !== 1 || p.hlen !== 6) return { kind: 'ignore', reason: `hardware type ${p.htype}/${p.hlen} is not Ethernet` };
  const c = clientInfo(p);
  if (!c.messageType) return { kind: 'ignore', reason: 'BOOTP without a DHCP message type', client: c };
  const host = hosts(c.mac);
  if (host?.ignore) return { kind: 'ignore', reason: 'host is marked ignore', client: c };
  if (host?.uefiBoot) policy = { ...policy, boot: { ...policy.boot, uefiBoot: host.uefiBoot } };
  return policy.mode === 'proxy' ? decideProxy(req, c, policy) : decideFull(req, c, policy, leases, now);
}

// ---------------------------------------------------------------- proxy mode

function decideProxy(req: Request, c: ClientInfo, policy: DhcpPolicy): Decision {
  if (!c.pxe) return { kind: 'ignore', reason: 'not a PXE client (proxy mode answers PXE clients only)', client: c };
  const target = bootTarget(c, policy.boot);
  if ('none' in target) return { kind: 'ignore', reason: target.none, client: c };
  const p = req.packet;
  if (req.port === 'dhcp') {
    if (c.messageType !== 'DISCOVER') return { kind: 'ignore', reason: `${c.messageType} on port 67 is for the site's DHCP server`, client: c };
    const reply = baseReply(p, 'OFFER', policy.boot.serverIp, ZERO);
    addBoot(reply, p, target, policy.boot.serverIp);
    return { kind: 'reply', type: 'OFFER', packet: reply, to: replyDestination(p), maxSize: maxSizeOf(p), client: c };
  }
  // PXE boot server port 4011 (PXE 2.1 §2.2.8): the client has an address now; answer it directly.
  if (c.messageType !== 'REQUEST' && c.messageType !== 'INFORM') return { kind: 'ignore', reason: `${c.messageType} on port 4011`, client: c };
  const reply = baseReply(p, 'ACK', policy.boot.serverIp, ZERO);
  addBoot(reply, p, target, policy.boot.serverIp);
  return { kind: 'reply', type: 'ACK', packet: reply, to: req.from, maxSize: maxSizeOf(p), client: c };
}

// ----------------------------------------------------------------- full mode

function decideFull(req: Request, c: ClientInfo, policy: DhcpPolicy, leases: LeaseTable, now: number): Decision {
  const full = policy.full!;
  const p = req.packet;
  const server = policy.boot.serverIp;
  if (req.port === 'pxe') return decideProxy(req, c, policy); // a PXE client asking the boot server port
  if (p.giaddr !== ZERO && !sameSubnet(full.pool, p.giaddr)) return { kind: 'ignore', reason: `relay ${p.giaddr} is outside the pool's subnet`, client: c };
  const serverId = ipOption(p, Opt.ServerId);
  const requested = ipOption(p, Opt.RequestedIp);
  const lease = (ip: string, state: Lease['state'], ms: number): Lease => ({ ip, mac: c.mac, state, expires: now + ms, hostname: c.hostname });
  const leaseMs = full.leaseSeconds * 1000;

  switch (c.messageType) {
    case 'DISCOVER': {
      const ip = chooseAddress(leases, full.pool, c.mac, requested, now);
      if (!ip) return { kind: 'ignore', reason: 'the address pool is exhausted', client: c };
      const current = leases.get(ip);
      const held = current?.mac === c.mac && current.state === 'bound' && current.expires > now ? current : lease(ip, 'offered', OFFER_HOLD_MS);
      return fullReply(p, c, 'OFFER', ip, policy, held, now);
    }
    case 'REQUEST': {
      if (serverId !== undefined) {
        // SELECTING (RFC 2131 §4.3.2): the client chose a server.
        const mine = leases.ofMac(c.mac);
        if (serverId !== server) {
          const freed = mine && mine.state === 'offered' ? { ...mine, state: 'released' as const, expires: now } : undefined;
          return { kind: 'ignore', reason: `client chose server ${serverId}`, client: c, ...(freed ? { lease: freed } : {}) };
        }
        const want = requested ?? (p.ciaddr !== ZERO ? p.ciaddr : undefined);
        if (mine && want === mine.ip && (mine.state === 'offered' || mine.state === 'bound')) {
          return fullReply(p, c, 'ACK', mine.ip, policy, lease(mine.ip, 'bound', leaseMs), now);
        }
        return nak(p, c, server, `requested ${want ?? 'nothing'} but was offered ${mine?.ip ?? 'nothing'}`);
      }
      // INIT-REBOOT (option 50) or RENEWING/REBINDING (ciaddr).
      const want = requested ?? (p.ciaddr !== ZERO ? p.ciaddr : undefined);
      if (!want) return { kind: 'ignore', reason: 'REQUEST names no address', client: c };
      if (!inPool(full.pool, want)) {
        // Wrong network (moved from another subnet): NAK so it starts again; not ours if it renews by unicast elsewhere.
        return sameSubnet(full.pool, want) || requested !== undefined ? nak(p, c, server, `${want} is not in the pool`) : { kind: 'ignore', reason: `${want} is not ours`, client: c };
      }
      if (!isFreeFor(leases, want, c.mac, now)) return nak(p, c, server, `${want} is leased to another client`);
      return fullReply(p, c, 'ACK', want, policy, lease(want, 'bound', leaseMs), now);
    }
    case 'DECLINE': {
      if (serverId !== server || !requested) return { kind: 'ignore', reason: 'DECLINE for another server', client: c };
      // RFC 2131 §4.3.3: the address is in use by someone else; keep it out of the pool for a while.
      return { kind: 'ignore', reason: `client declined ${requested}: address conflict`, client: c, lease: { ip: requested, mac: '', state: 'declined', expires: now + DECLINE_HOLD_MS } };
    }
    case 'RELEASE': {
      const mine = leases.get(p.ciaddr);
      if (serverId !== server || !mine || mine.mac !== c.mac) return { kind: 'ignore', reason: 'RELEASE of an address that is not this client\'s', client: c };
      // Keep the MAC on the record so the client gets the same address next time.
      return { kind: 'ignore', reason: `released ${p.ciaddr}`, client: c, lease: { ...mine, state: 'released', expires: now } };
    }
    case 'INFORM': {
      // RFC 2131 §4.3.5: configuration only; no address, no lease time.
      const reply = baseReply(p, 'ACK', server, ZERO);
      addNetworkOptions(reply, full, false);
      addBootIfPxe(reply, p, c, policy);
      const to = p.giaddr !== ZERO ? { address: p.giaddr, port: 67 } : { address: p.ciaddr !== ZERO ? p.ciaddr : req.from.address, port: 68 };
      return { kind: 'reply', type: 'ACK', packet: reply, to, maxSize: maxSizeOf(p), client: c };
    }
    default:
      return { kind: 'ignore', reason: `${c.messageType} is not a client message`, client: c };
  }
}

function fullReply(p: DhcpPacket, c: ClientInfo, type: 'OFFER' | 'ACK', ip: string, policy: DhcpPolicy, lease: Lease, now: number): Decision {
  const full = policy.full!;
  const reply = baseReply(p, type, policy.boot.serverIp, ip);
  // A bound lease is offered for what is left of it; a new one for the full time.
  const left = lease.state === 'bound' ? Math.ceil((lease.expires - now) / 1000) : full.leaseSeconds;
  addNetworkOptions(reply, full, true, Math.max(1, Math.min(full.leaseSeconds, left)));
  addBootIfPxe(reply, p, c, policy);
  return { kind: 'reply', type, packet: reply, to: replyDestination(p), maxSize: maxSizeOf(p), lease, client: c };
}

function nak(p: DhcpPacket, c: ClientInfo, server: string, reason: string): Decision {
  const reply = baseReply(p, 'NAK', server, ZERO);
  reply.options.set(Opt.Message, text(reason));
  // RFC 2131 §4.3.2: a NAK is broadcast, or sent to the relay with the broadcast bit set.
  if (p.giaddr !== ZERO) reply.flags |= BROADCAST_FLAG;
  const to = p.giaddr !== ZERO ? { address: p.giaddr, port: 67 } : { address: '255.255.255.255', port: 68 };
  return { kind: 'reply', type: 'NAK', packet: reply, to, maxSize: maxSizeOf(p), client: c };
}

// ------------------------------------------------------------------- helpers

function baseReply(p: DhcpPacket, type: MessageTypeName, server: string, yiaddr: string): DhcpPacket {
  const options = new Map<number, Buffer>([
    [Opt.MessageType, u8(MessageType[type])],
    [Opt.ServerId, ips([server])],
  ]);
  return {
    op: BOOTREPLY,
    htype: p.htype,
    hlen: p.hlen,
    hops: 0,
    xid: p.xid,
    secs: 0,
    flags: p.flags & BROADCAST_FLAG,
    ciaddr: type === 'ACK' ? p.ciaddr : ZERO,
    yiaddr,
    siaddr: ZERO,
    giaddr: p.giaddr,
    chaddr: p.chaddr,
    sname: '',
    file: '',
    options,
  };
}

function addNetworkOptions(reply: DhcpPacket, full: FullModePolicy, withLease: boolean, leaseSeconds = full.leaseSeconds): void {
  reply.options.set(Opt.SubnetMask, ips([full.pool.subnetMask]));
  if (full.router) reply.options.set(Opt.Router, ips([full.router]));
  if (full.dns.length > 0) reply.options.set(Opt.DnsServers, ips(full.dns));
  if (full.domain) reply.options.set(Opt.DomainName, text(full.domain));
  if (withLease) {
    reply.options.set(Opt.LeaseTime, u32(leaseSeconds));
    reply.options.set(Opt.RenewalTime, u32(Math.floor(leaseSeconds / 2)));
    reply.options.set(Opt.RebindingTime, u32(Math.floor((leaseSeconds * 7) / 8)));
  }
}

function addBootIfPxe(reply: DhcpPacket, p: DhcpPacket, c: ClientInfo, policy: DhcpPolicy): void {
  if (!c.pxe && !c.ipxe) return;
  const target = bootTarget(c, policy.boot);
  if (!('none' in target)) addBoot(reply, p, target, policy.boot.serverIp);
}

function addBoot(reply: DhcpPacket, p: DhcpPacket, target: BootTarget, server: string): void {
  reply.siaddr = server;
  reply.file = Buffer.byteLength(target.file, 'latin1') <= 127 ? target.file : '';
  reply.options.set(Opt.VendorClass, text(target.vendorClass));
  if (target.vendorClass === 'PXEClient') reply.options.set(Opt.VendorSpecific, PXE_VENDOR_OPTIONS);
  reply.options.set(Opt.TftpServerName, text(server));
  reply.options.set(Opt.BootfileName, text(target.file));
  // PXE 2.1 §2.2.5: echo the client's machine identifier; some ROMs drop offers without it.
  const uuid = p.options.get(Opt.ClientUuid);
  if (uuid) reply.options.set(Opt.ClientUuid, uuid);
}

function ipOption(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? `${v[0]}.${v[1]}.${v[2]}.${v[3]}` : undefined;
}

function maxSizeOf(p: DhcpPacket): number {
  const v = p.options.get(Opt.MaxMessageSize);
  return v && v.length === 2 ? v.readUInt16BE(0) : 0;
}

/**
 * RFC 2131 §4.1: to the relay if there is one; to ciaddr if the client has an
 * address; otherwise broadcast. (Unicast to yiaddr would need an ARP entry
 * injected by hand, which a UDP socket cannot do, so we broadcast instead.)
 */
export function replyDestination(p: DhcpPacket): { address: string; port: number } {
  if (p.giaddr !== ZERO) return { address: p.giaddr, port: 67 };
  if (p.ciaddr !== ZERO) return { address: p.ciaddr, port: 68 };
  return { address: '255.255.255.255', port: 68 };
}
