/**
 * SHA-256 of disk chunks on worker threads, without copying them: a chunk
 * read into a buffer backed by a SharedArrayBuffer is hashed where it lies
 * while the main thread reads the next one. A delta restore reads and hashes
 * the whole disk, so this puts every core on it; WebCrypto's digest also
 * runs off the main thread, but copies and then wipes each 4 MiB chunk.
 *
 * The worker is a few lines of plain JavaScript evaluated in place, so that
 * the agent's one-file bundle needs no second file.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, view }) => {
  parentPort.postMessage({ id, hex: createHash('sha256').update(view).digest('hex') });
});
`;

/** A buffer the workers can read in place. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

interface Waiting {
  resolve: (hex: string) => void;
  reject: (err: Error) => void;
}

export class HashPool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiting>();
  #id = 0;
  #failed: Error | undefined;
  readonly #size: number;

  constructor(size = Math.min(4, availableParallelism())) {
    this.#size = size;
  }

  /** Threads start on the first hash: a restore to a fresh disk never needs them. */
  #start(): void {
    for (let i = 0; i < this.#size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref(); // a pool left open never keeps the process alive
      w.on('message', ({ id, hex }: { id: number; hex: string }) => {
        this.#waiting.get(id)?.resolve(hex);
        this.#waiting.delete(id);
      });
      w.on('error', (err) => this.#fail(err));
      w.on('exit', (code) => code !== 0 && this.#fail(new Error(`a hashing thread stopped (exit ${code})`)));
      this.#workers.push(w);
    }
  }

  /** Hex SHA-256 of `data`, which must live in a SharedArrayBuffer (sharedBuffer). */
  hash(data: Buffer): Promise<string> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('HashPool.hash needs a buffer from sharedBuffer()');
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#workers.length === 0) this.#start();
    const id = this.#id++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#workers[id % this.#workers.length]!.postMessage({ id, view: data });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}
