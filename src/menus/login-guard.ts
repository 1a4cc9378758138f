/**
 * Slows down repeated wrong logins from one machine: after each failure the
 * next attempt must wait twice as long (2, 4, 8 … up to 60 s). Pure state
 * with an injected clock.
 */
export class LoginGuard {
  readonly #failures = new Map<string, { count: number; until: number }>();

  /** Seconds this machine must still wait before it may try again (0: go ahead). */
  wait(mac: string, now: number): number {
    const f = this.#failures.get(mac);
    return f && f.until > now ? Math.ceil((f.until - now) / 1000) : 0;
  }

  failed(mac: string, now: number): number {
    const count = (this.#failures.get(mac)?.count ?? 0) + 1;
    const delay = Math.min(60, 2 ** count);
    this.#failures.set(mac, { count, until: now + delay * 1000 });
    return delay;
  }

  succeeded(mac: string): void {
    this.#failures.delete(mac);
  }
}
