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
  return compressAsync(raw, { chunkSize: Math.max(64 * 1024, Math.min(raw.length, OUT)), params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
}

/** Decompress, refusing output larger than `maxSize` (a hostile chunk cannot exhaust memory). */
export function decompress(data: Buffer, maxSize: number): Promise<Buffer> {
  return decompressAsync(data, { maxOutputLength: maxSize, chunkSize: Math.max(64 * 1024, Math.min(maxSize, OUT)) });
}
