/**
 * Slows down repeated wrong logins from one source address (menu logins over
 * HTTP and TFTP, and API logins): after each failure the next attempt must
 * wait twice as long (2, 4, 8 … up to 60 s). Keyed by the address the
 * request came from, never by what the client says about itself (a MAC in
 * the URL is free to change). Bounded: at most `cap` addresses are
 * remembered, the oldest failure forgotten first, and an address that has
 * not failed for `forgetMs` starts afresh. Pure state with an injected clock.
 */
export class LoginGuard {
  readonly #failures = new Map<string, { count: number; until: number; last: number }>();
  readonly #cap: number;
  readonly #forgetMs: number;

  constructor(o: { cap?: number; forgetMs?: number } = {}) {
    this.#cap = o.cap ?? 10_000;
    this.#forgetMs = o.forgetMs ?? 15 * 60_000;
  }

  /** Seconds this address must still wait before it may try again (0: go ahead). */
  wait(address: string, now: number): number {
    const f = this.#failures.get(address);
    return f && f.until > now ? Math.ceil((f.until - now) / 1000) : 0;
  }

  /** A wrong login from `address`; the seconds it must now wait. */
  failed(address: string, now: number): number {
    const prev = this.#failures.get(address);
    const count = (prev && now - prev.last < this.#forgetMs ? prev.count : 0) + 1;
    const delay = Math.min(60, 2 ** count);
    // Re-inserted at the end: the map's order is the order of the last failures.
    this.#failures.delete(address);
    this.#failures.set(address, { count, until: now + delay * 1000, last: now });
    while (this.#failures.size > this.#cap) this.#failures.delete(this.#failures.keys().next().value!);
    return delay;
  }

  succeeded(address: string): void {
    this.#failures.delete(address);
  }

  /** How many addresses it remembers. */
  get size(): number {
    return this.#failures.size;
  }
}

/** The address of a request as the throttle and the session binding know it: IPv4 without its IPv6 mapping. */
export function clientAddress(raw: string | undefined): string {
  if (!raw) return '?';
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
}
