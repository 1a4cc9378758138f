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

export function inPool(pool: Pool, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= ipToInt(pool.first) && n <= ipToInt(pool.last) && !pool.reserved.includes(ip);
}

export function sameSubnet(pool: Pool, ip: string): boolean {
  const mask = ipToInt(pool.subnetMask);
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(pool.first) & mask) >>> 0);
}

/** What the decision reads of the lease table. */
export interface LeaseTable {
  get(ip: string): Lease | undefined;
  /** The client's most recent lease that is not a declined marker. */
  ofMac(mac: string): Lease | undefined;
  readonly size: number;
}

/**
 * Leases in memory, indexed by address and by MAC, so a decision costs the
 * same with ten leases or ten thousand. Plain data: persistence is the caller's.
 */
export class Leases implements LeaseTable {
  readonly #byIp = new Map<string, Lease>();
  readonly #byMac = new Map<string, Lease>();

  get size(): number {
    return this.#byIp.size;
  }
  get(ip: string): Lease | undefined {
    return this.#byIp.get(ip);
  }
  ofMac(mac: string): Lease | undefined {
    return this.#byMac.get(mac);
  }
  values(): IterableIterator<Lease> {
    return this.#byIp.values();
  }

  put(lease: Lease): void {
    const old = this.#byIp.get(lease.ip);
    if (old && old.mac !== lease.mac && this.#byMac.get(old.mac) === old) this.#byMac.delete(old.mac);
    this.#byIp.set(lease.ip, lease);
    if (lease.state === 'declined') return;
    const current = this.#byMac.get(lease.mac);
    if (!current || current.ip === lease.ip || lease.expires >= current.expires) this.#byMac.set(lease.mac, lease);
  }
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
  const own = table.ofMac(mac);
  if (own && inPool(pool, own.ip) && isFreeFor(table, own.ip, mac, now)) return own.ip;
  if (requested && inPool(pool, requested) && isFreeFor(table, requested, mac, now)) return requested;
  const first = ipToInt(pool.first);
  const count = ipToInt(pool.last) - first + 1;
  // Addresses are handed out in order, so the first never-used one is usually
  // near index `size`: start there and wrap, which still visits every address.
  let oldest: Lease | undefined;
  for (let i = 0; i < count; i++) {
    const ip = intToIp(first + ((table.size + i) % count));
    if (pool.reserved.includes(ip)) continue;
    const l = table.get(ip);
    if (!l) return ip;
    if (isFreeFor(table, ip, mac, now) && (!oldest || l.expires < oldest.expires)) oldest = l;
  }
  return oldest?.ip;
}
