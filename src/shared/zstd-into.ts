/**
 * zstd decompression into a buffer the caller owns, with one decompression
 * context kept from chunk to chunk.
 *
 * Why: `zlib.zstdDecompressSync` makes a new context and a new output buffer
 * for every call. For a 4 MiB chunk that is two fresh 4 MiB areas (the
 * context's window and the output), each faulted in and zeroed by the kernel:
 * 1.7 ms a chunk of incompressible data here, against 0.13 ms into a reused
 * buffer (bench/restore's disk: 0.6 s of CPU a restore). Straight into the
 * restore's page-aligned buffer, the O_DIRECT write also needs no copy.
 *
 * Node has no public API for this, so this drives the zlib stream's native
 * handle (`_handle.writeSync`, `_writeState`) the way node:zlib's own
 * synchronous path does. The pinned Node 24 runs the agent everywhere; where
 * the handle is not of that shape, the public call and a copy are used
 * instead. A context that reported an error is closed and never used again.
 *
 * The factory is self-contained (it refers to its argument only) because the
 * restore's disk threads evaluate its source text (chunk-workers.ts).
 */
import zlib from 'node:zlib';

/**
 * Decompress one zstd frame into `out` (which has room for `max + 1`
 * bytes, so that a frame larger than `max` shows itself) and return the view
 * of `out` it filled; `undefined` when the frame holds more than `max` bytes.
 * Throws the zstd error for data that is not a valid frame, and for bytes
 * after the end of the frame.
 */
export type DecompressInto = (input: Uint8Array, out: Buffer, max: number) => Buffer | undefined;

export function makeDecompressInto(z: typeof zlib): DecompressInto {
  type Handle = {
    reset(): void;
    close(): void;
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    onerror: (message: string, errno: number) => void;
  };
  type Engine = { _handle?: Handle; _writeState?: Uint32Array };
  const END = z.constants.ZSTD_e_end;
  let engine: Engine | undefined;
  let failed: Error | undefined;
  const fresh = (): Engine | undefined => {
    const e = new z.ZstdDecompress() as unknown as Engine;
    if (typeof e._handle?.writeSync !== 'function' || typeof e._handle.reset !== 'function' || !(e._writeState instanceof Uint32Array)) return undefined;
    failed = undefined;
    e._handle.onerror = (message, errno) => {
      failed = Object.assign(new Error(message), { errno });
    };
    return e;
  };
  const viaPublicApi = (input: Uint8Array, out: Buffer, max: number): Buffer | undefined => {
    let raw: Buffer;
    try {
      raw = z.zstdDecompressSync(input, { maxOutputLength: max, chunkSize: Math.max(64 * 1024, Math.min(max, 4 * 1024 * 1024)) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
      throw err;
    }
    raw.copy(out);
    return out.subarray(0, raw.length);
  };
  return (input, out, max) => {
    if (out.length <= max) throw new RangeError(`decompressInto needs room for ${max + 1} bytes, the buffer has ${out.length}`);
    engine ??= fresh();
    if (!engine) return viaPublicApi(input, out, max);
    const handle = engine._handle!;
    const state = engine._writeState!;
    // One byte of room past `max`: a frame that fills it is larger than allowed.
    const room = max + 1;
    handle.reset();
    handle.writeSync(END, input, 0, input.length, out, 0, room);
    if (failed) {
      const err = failed;
      engine = undefined; // never reused after an error: the next call makes a new one
      try {
        handle.close();
      } catch {
        // already closed: nothing to free
      }
      throw err;
    }
    const produced = room - state[0]!;
    if (produced > max) return undefined;
    if (state[1]! > 0) throw new Error(`${state[1]} bytes after the end of the zstd frame`);
    return out.subarray(0, produced);
  };
}
