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
 * lines evaluated in place (threads.ts), so that the agent's one-file bundle
 * (capture uses this too) needs no second file.
 */
import { Threads } from './threads.ts';

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
  // One thread: it takes the chunks in the order they were posted, as the whole-disk hash needs.
  readonly #thread = new Threads(SOURCE, undefined, 1, 'the hashing thread');

  /** Add the next chunk (in a shared buffer) to the whole-disk hash; its own hash, or null for zeros. */
  chunk(data: Buffer): Promise<string | null> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('ScanHasher.chunk needs a buffer backed by a SharedArrayBuffer');
    return this.#thread.call({ data }).then((r) => r.hash as string | null);
  }

  /** The whole disk's SHA-256, answered after every chunk posted before it. */
  async digest(): Promise<string> {
    return (await this.#thread.call({})).hash as string;
  }

  async close(): Promise<void> {
    await this.#thread.close();
  }
}
