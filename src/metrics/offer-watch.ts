/**
 * Firmware that ignores ProxyDHCP offers: it sends DISCOVER after DISCOVER,
 * gets our OFFER each time, and never asks the boot server (port 4011) or
 * TFTP for anything. Pure bookkeeping over (MAC, time) events; the running
 * service reports what it holds in /healthz, where `netrestore doctor` reads it.
 */

export interface IgnoredOffers {
  mac: string;
  offers: number;
  /** ISO time of the first unanswered offer. */
  since: string;
}

/** Offers without a follow-up before a MAC is named. */
export const OFFERS_BEFORE_FLAG = 3;
/** Forget a MAC after this long without an offer. */
const FORGET_MS = 15 * 60_000;
/** At most this many MACs remembered (a flood of forged MACs must not grow memory). */
const MAX_MACS = 4096;

export class OfferWatch {
  readonly #offers = new Map<string, { count: number; first: number; last: number }>();

  offered(mac: string, now: number): void {
    const e = this.#offers.get(mac);
    if (e) {
      e.count++;
      e.last = now;
      return;
    }
    if (this.#offers.size >= MAX_MACS) this.#prune(now);
    if (this.#offers.size < MAX_MACS) this.#offers.set(mac, { count: 1, first: now, last: now });
  }

  /** The MAC asked the boot server or fetched a boot file: its firmware follows our offers. */
  followed(mac: string): void {
    this.#offers.delete(mac);
  }

  ignoring(now: number): IgnoredOffers[] {
    this.#prune(now);
    return [...this.#offers]
      .filter(([, e]) => e.count >= OFFERS_BEFORE_FLAG)
      .map(([mac, e]) => ({ mac, offers: e.count, since: new Date(e.first).toISOString() }));
  }

  #prune(now: number): void {
    for (const [mac, e] of this.#offers) if (now - e.last > FORGET_MS) this.#offers.delete(mac);
  }
}
