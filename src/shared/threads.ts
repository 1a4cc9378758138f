/**
 * Worker threads that run a few lines of plain JavaScript evaluated in place
 * (so that the agent's one-file bundle needs no second file), answering calls
 * by id. The restore's disk threads and the scan's hashing thread use it.
 *
 * The thread source answers each message `{ id, ... }` with `{ id, ... }`.
 * A call goes to the thread with the fewest calls waiting; a thread takes its
 * messages in the order they were posted. A thread that dies fails every
 * call waiting and every later one.
 */
import { Worker } from 'node:worker_threads';

/**
 * The thread with the fewest calls waiting (the first of equals). Chunks take
 * unequal times (a text chunk decompresses slower than a random one, a read
 * may wait on the disk): handed out in turn, calls would queue behind a slow
 * thread while others idle.
 */
export function leastBusy(waiting: readonly number[]): number {
  let to = 0;
  for (let i = 1; i < waiting.length; i++) if (waiting[i]! < waiting[to]!) to = i;
  return to;
}

export type Reply = Record<string, unknown>;

export class Threads {
  readonly #workers: Worker[] = [];
  /** Calls each thread has not answered yet, by thread. */
  readonly #busy: number[] = [];
  readonly #waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>();
  #id = 0;
  #failed: Error | undefined;
  readonly #source: string;
  readonly #workerData: unknown;
  readonly #size: number;
  readonly #what: string;

  /** `what` names a thread in the error when one stops ("a disk thread"). Threads start on the first call. */
  constructor(source: string, workerData: unknown, size: number, what: string) {
    this.#source = source;
    this.#workerData = workerData;
    this.#size = size;
    this.#what = what;
  }

  /** Post `message` (with its id) to the least busy thread; its reply, without the id. */
  call(message: Reply): Promise<Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#workers.length === 0) this.#start();
    const id = this.#id++;
    const to = leastBusy(this.#busy);
    this.#busy[to]!++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#workers[to]!.postMessage({ ...message, id });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #start(): void {
    for (let i = 0; i < this.#size; i++) {
      const w = new Worker(this.#source, { eval: true, workerData: this.#workerData });
      w.unref(); // threads left open never keep the process alive
      w.on('message', ({ id, ...reply }: { id: number } & Reply) => {
        this.#busy[i]!--;
        const waiting = this.#waiting.get(id);
        this.#waiting.delete(id);
        waiting?.resolve(reply);
      });
      w.on('error', (err) => this.#fail(err));
      w.on('exit', (code) => code !== 0 && this.#fail(new Error(`${this.#what} stopped (exit ${code})`)));
      this.#workers.push(w);
      this.#busy.push(0);
    }
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}
