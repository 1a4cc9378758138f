/**
 * Adaptive busy polling for TFTP transfers.
 *
 * Lock-step TFTP (RFC 1350 §2: one block, then wait for its ACK) is bound by
 * the round trip, and most of a round trip on a fast LAN is the time it takes
 * to wake a sleeping process: the kernel's idle state, and on a virtual
 * server a halt and an interrupt through the hypervisor. tftpd-hpa pays it
 * too. While a transfer is live, this keeps the event loop polling (a
 * setImmediate loop, which makes libuv poll with a zero timeout) instead of
 * sleeping, for a short budget after each send: the ACK is then picked up as
 * soon as it lands. Measured by bench/tftp: 2× tftpd-hpa's lock-step speed
 * instead of 0.88×.
 *
 * The cost is one core busy while transfers run, never more: there is one
 * loop per process whatever the number of transfers, and it stops by itself
 * once `budgetMs` passes without a send (a stalled client, the last ACK).
 * Other sockets (DHCP, HTTP) are served as before: each turn of the loop
 * polls all I/O. A budget of 0 turns it off.
 */
export const DEFAULT_BUSY_POLL_MS = 2;

export interface BusyPollDeps {
  now: () => number;
  /** Runs a function on the next turn of the event loop, after I/O was polled. */
  schedule: (f: () => void) => void;
}

const realDeps: BusyPollDeps = { now: () => performance.now(), schedule: (f) => void setImmediate(f) };

export class BusyPoll {
  #until = 0;
  #spinning = false;
  readonly #budgetMs: number;
  readonly #deps: BusyPollDeps;

  constructor(budgetMs: number, deps: BusyPollDeps = realDeps) {
    this.#budgetMs = budgetMs;
    this.#deps = deps;
  }

  /** Something was sent and an answer is due: poll for the next `budgetMs`. */
  kick(): void {
    if (this.#budgetMs <= 0) return;
    this.#until = this.#deps.now() + this.#budgetMs;
    if (this.#spinning) return;
    this.#spinning = true;
    this.#deps.schedule(this.#turn);
  }

  get spinning(): boolean {
    return this.#spinning;
  }

  #turn = (): void => {
    if (this.#deps.now() < this.#until) this.#deps.schedule(this.#turn);
    else this.#spinning = false;
  };
}
