/** zstd through Node's built-in zlib (no native addon): async, on the libuv thread pool. */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const compressAsync = promisify(zlib.zstdCompress);
const decompressAsync = promisify(zlib.zstdDecompress);

/** Level 3: zstd's default, the speed/size balance `zstd -3` gives. */
// One output buffer the size of a chunk, instead of zlib's default 16 KiB pieces
// that are each called back and joined: that costs more than the compression.
const OUT = 4 * 1024 * 1024;

export function compress(raw: Buffer, level = 3): Promise<Buffer> {
  const chosen = looksIncompressible(raw) ? INCOMPRESSIBLE_LEVEL : level;
  // Room for zstd's block headers over incompressible data: one output buffer, one call back.
  return compressAsync(raw, { chunkSize: Math.max(64 * 1024, Math.min(raw.length + 64 * 1024, OUT + 64 * 1024)), params: { [zlib.constants.ZSTD_c_compressionLevel]: chosen } });
}

/**
 * The level for chunks that will not compress (an encrypted volume, a
 * BitLocker disk, compressed media and archives): at level 3 zstd spends
 * 5 to 14 ms on 4 MiB of random bytes to save nothing (runs here differ), at
 * -5 about 2 ms, and a fast level still finds repeated runs. The frame is
 * ordinary zstd either way.
 */
export const INCOMPRESSIBLE_LEVEL = -5;

/**
 * Bytes that look random: the Shannon entropy of the byte values in each of
 * eight 4 KiB samples spread over the chunk is above 7.8 bits a byte (random
 * or compressed data measures 7.95 from 4 KiB, text about 4.5, machine code
 * about 6). A chunk with any compressible stretch the samples see keeps the
 * normal level.
 */
export function looksIncompressible(raw: Uint8Array): boolean {
  const SAMPLES = 8;
  const SAMPLE = 4096;
  if (raw.length < SAMPLES * SAMPLE) return false;
  const step = Math.floor(raw.length / SAMPLES);
  for (let s = 0; s < SAMPLES; s++) {
    const counts = new Uint32Array(256);
    const from = s * step;
    for (let i = from; i < from + SAMPLE; i++) counts[raw[i]!]!++;
    let bits = 0;
    for (const c of counts) if (c) bits -= (c / SAMPLE) * Math.log2(c / SAMPLE);
    if (bits < 7.8) return false;
  }
  return true;
}

/** Decompress, refusing output larger than `maxSize` (a hostile chunk cannot exhaust memory). */
export function decompress(data: Buffer, maxSize: number): Promise<Buffer> {
  return decompressAsync(data, { maxOutputLength: maxSize, chunkSize: Math.max(64 * 1024, Math.min(maxSize, OUT)) });
}
