/**
 * The address pool of full DHCP mode as plain data: which address a client
 * gets (RFC 2131 §4.3.1) and whether an address is free. Pure: the caller
 * owns the table and the clock, and persists the leases this returns.
 *
 * Leases are keyed by MAC rather than client identifier (option 61): one
 * machine passes through PXE firmware, iPXE and Linux in one boot, each with
 * its own client-id habits, and should keep one address through all three.
 */
import { intToIp, ipToInt } from './options.ts';

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';

export interface Lease {
  ip: string;
  mac: string;
  state: LeaseState;
  /** Epoch milliseconds after which the address may go to another client. */
  expires: number;
  hostname?: string | undefined;
}

export interface Pool {
  first: string;
  last: string;
  subnetMask: string;
  /** Addresses inside the range that are never handed out (this server, the router, DNS). */
  reserved: readonly string[];
}

export type LeaseTable = ReadonlyMap<string, Lease>;

export function inPool(pool: Pool, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= ipToInt(pool.first) && n <= ipToInt(pool.last) && !pool.reserved.includes(ip);
}

export function sameSubnet(pool: Pool, ip: string): boolean {
  const mask = ipToInt(pool.subnetMask);
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(pool.first) & mask) >>> 0);
}

export function leaseOf(table: LeaseTable, mac: string): Lease | undefined {
  let best: Lease | undefined;
  for (const l of table.values()) {
    if (l.mac === mac && l.state !== 'declined' && (!best || l.expires > best.expires)) best = l;
  }
  return best;
}

/** Free for `mac`: unknown, or held by this mac, or expired and not declined-recently. */
export function isFreeFor(table: LeaseTable, ip: string, mac: string, now: number): boolean {
  const l = table.get(ip);
  if (!l) return true;
  if (l.state === 'declined') return l.expires <= now;
  if (l.mac === mac) return true;
  return l.state === 'released' || l.expires <= now;
}

/**
 * The address to offer `mac` (RFC 2131 §4.3.1): its current or previous
 * address, else the one it asks for, else a never-used address, else the one
 * whose lease ended longest ago. `undefined` when the pool is exhausted.
 */
export function chooseAddress(table: LeaseTable, pool: Pool, mac: string, requested: string | undefined, now: number): string | undefined {
  const own = leaseOf(table, mac);
  if (own && inPool(pool, own.ip) && isFreeFor(table, own.ip, mac, now)) return own.ip;
  if (requested && inPool(pool, requested) && isFreeFor(table, requested, mac, now)) return requested;
  let oldest: Lease | undefined;
  for (let n = ipToInt(pool.first); n <= ipToInt(pool.last); n++) {
    const ip = intToIp(n);
    if (!inPool(pool, ip)) continue;
    const l = table.get(ip);
    if (!l) return ip;
    if (isFreeFor(table, ip, mac, now) && (!oldest || l.expires < oldest.expires)) oldest = l;
  }
  return oldest?.ip;
}
