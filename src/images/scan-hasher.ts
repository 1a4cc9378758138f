/**
 * The hashes a scan of a disk needs, on a thread of its own: each chunk's
 * SHA-256 (none for a chunk of zeros) and the whole disk's, which must see
 * the chunks in order. One thread takes its messages in the order they were
 * posted, so the order holds without more bookkeeping.
 *
 * Why: on the main thread these two hashes were its largest cost (perf), and
 * the reads and compressions waited for them (bench/restore's 2 GiB publish:
 * 5.3–5.6 s before, 4.2–4.8 s after, by hand). The chunks come in buffers backed by a
 * SharedArrayBuffer, so the thread reads them in place. Its code is a few
 * lines evaluated in place, so that the agent's one-file bundle (capture uses
 * this too) needs no second file.
 */
import { Worker } from 'node:worker_threads';

const SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const whole = createHash('sha256');
let zeros = new Uint8Array(0);
const isZero = (b) => {
  if (zeros.length < b.length) zeros = new Uint8Array(b.length);
  return Buffer.from(b.buffer, b.byteOffset, b.length).equals(zeros.subarray(0, b.length));
};
parentPort.on('message', ({ id, data }) => {
  if (data === undefined) return parentPort.postMessage({ id, hash: whole.digest('hex') });
  whole.update(data);
  parentPort.postMessage({ id, hash: isZero(data) ? null : createHash('sha256').update(data).digest('hex') });
});
`;

export class ScanHasher {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (h: string | null) => void; reject: (err: Error) => void }>();
  #id = 0;
  #failed: Error | undefined;

  constructor() {
    this.#worker = new Worker(SOURCE, { eval: true });
    this.#worker.unref(); // never what keeps the process alive
    this.#worker.on('message', ({ id, hash }: { id: number; hash: string | null }) => {
      this.#waiting.get(id)?.resolve(hash);
      this.#waiting.delete(id);
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => code !== 0 && this.#fail(new Error(`the hashing thread stopped (exit ${code})`)));
  }

  /** Add the next chunk (in a shared buffer) to the whole-disk hash; its own hash, or null for zeros. */
  chunk(data: Buffer): Promise<string | null> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('ScanHasher.chunk needs a buffer backed by a SharedArrayBuffer');
    return this.#call({ data });
  }

  /** The whole disk's SHA-256, after every chunk posted before it. */
  async digest(): Promise<string> {
    return (await this.#call({}))!;
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #call(message: { data?: Buffer }): Promise<string | null> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#id++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...message });
    });
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}
