/** zstd through Node's built-in zlib (no native addon): async, on the libuv thread pool. */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const compressAsync = promisify(zlib.zstdCompress);
const decompressAsync = promisify(zlib.zstdDecompress);

/** Level 3: zstd's default, the speed/size balance `zstd -3` gives. */
export function compress(raw: Buffer, level = 3): Promise<Buffer> {
  return compressAsync(raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
}

/** Decompress, refusing output larger than `maxSize` (a hostile chunk cannot exhaust memory). */
export function decompress(data: Buffer, maxSize: number): Promise<Buffer> {
  return decompressAsync(data, { maxOutputLength: maxSize });
}
