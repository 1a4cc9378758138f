/**
 * /healthz: each part of the service up, down or off, with the reason. The
 * servers' parts are set by serve as they start; store, state database and
 * boot files are checked when asked. `ok` only when no part is down.
 */
import type { IgnoredOffers } from '../metrics/offer-watch.ts';

export type PartState = { state: 'up' | 'off'; reason?: string } | { state: 'down'; reason: string };

export const PARTS = ['link', 'dhcp', 'proxy', 'tftp', 'http', 'store', 'state', 'bootFiles'] as const;
export type Part = (typeof PARTS)[number];

export interface HealthReport {
  ok: boolean;
  parts: Partial<Record<Part, PartState>>;
  /** Firmware seen ignoring our ProxyDHCP offers (what `netrestore doctor` reads). */
  ignoringOffers: IgnoredOffers[];
}

type Check = () => PartState | Promise<PartState>;

export class Health {
  readonly #parts = new Map<Part, PartState>();
  readonly #checks = new Map<Part, Check>();
  readonly #ignoring: () => IgnoredOffers[];

  constructor(ignoring: () => IgnoredOffers[] = () => []) {
    this.#ignoring = ignoring;
  }

  set(part: Part, s: PartState): void {
    this.#parts.set(part, s);
  }

  /** A part whose state is read when asked. */
  check(part: Part, c: Check): void {
    this.#checks.set(part, c);
  }

  async report(): Promise<HealthReport> {
    const parts: Partial<Record<Part, PartState>> = {};
    for (const p of PARTS) {
      const c = this.#checks.get(p);
      const s = c ? await Promise.resolve().then(c).catch((err: Error): PartState => ({ state: 'down', reason: err.message })) : this.#parts.get(p);
      if (s) parts[p] = s;
    }
    return { ok: Object.values(parts).every((s) => s.state !== 'down'), parts, ignoringOffers: this.#ignoring() };
  }
}
