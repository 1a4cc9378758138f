/**
 * Run async work with at most `n` jobs in flight; the first failure stops
 * new work and is thrown from `drain()`.
 */
export class Limiter {
  readonly #n: number;
  readonly #running = new Set<Promise<void>>();
  #error: unknown;
  #failed = false;

  constructor(n: number) {
    this.#n = n;
  }

  /** Wait for a free slot, then start `job`. Throws the first failure of an earlier job. */
  async run(job: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#n) await Promise.race(this.#running);
    if (this.#failed) throw this.#error;
    const p: Promise<void> = job().then(
      () => {
        this.#running.delete(p);
      },
      (err: unknown) => {
        this.#running.delete(p);
        if (!this.#failed) {
          this.#failed = true;
          this.#error = err;
        }
      },
    );
    this.#running.add(p);
  }

  async drain(): Promise<void> {
    while (this.#running.size) await Promise.race(this.#running);
    if (this.#failed) throw this.#error;
  }
}
