/**
 * Reading a disk for publish and capture: the hashing thread gives each
 * chunk's SHA-256 (null for zeros) and the whole disk's as createHash does,
 * in order whatever order the callers wait in; chunk buffers are reused once
 * released; and chunks that look random are told apart from ones that
 * compress, and come back intact from either zstd level.
 */
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/shared/format.ts';
import { ScanHasher } from '../../src/shared/scan-hasher.ts';
import { DiskScan } from '../../src/shared/scan.ts';
import type { DiskReader } from '../../src/shared/disk-reader.ts';
import { compress, looksIncompressible } from '../../src/shared/zstd.ts';

const CHUNK = 256 * 1024;
const text = (n: number) => Buffer.from(Array.from({ length: Math.ceil(n / 10) }, (_, i) => `${i} INFO started\n`).join('')).subarray(0, n);

function memoryDisk(disk: Buffer): DiskReader {
  return { size: disk.length, sectorSize: 512, format: 'raw', read: async (o, l) => Buffer.from(disk.subarray(o, o + l)), close: async () => {} };
}

describe('ScanHasher', () => {
  it('hashes chunks and the whole disk as createHash does, and gives null for zeros', async () => {
    const h = new ScanHasher();
    try {
      const parts = [randomBytes(CHUNK), Buffer.alloc(CHUNK), text(1000)];
      const shared = parts.map((p) => {
        const s = Buffer.from(new SharedArrayBuffer(p.length));
        p.copy(s);
        return s;
      });
      const hashes = shared.map((s) => h.chunk(s));
      expect(await hashes[2]).toBe(sha256(parts[2]!));
      expect(await hashes[1]).toBeNull();
      expect(await hashes[0]).toBe(sha256(parts[0]!));
      expect(await h.digest()).toBe(createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
      expect(() => h.chunk(Buffer.alloc(10))).toThrow(/SharedArrayBuffer/);
    } finally {
      await h.close();
    }
  });
});

describe('DiskScan', () => {
  it('reads a disk into the manifest: hashes, zeros, the whole-disk hash, and a short last chunk', async () => {
    const disk = Buffer.concat([randomBytes(CHUNK), Buffer.alloc(CHUNK), text(CHUNK), randomBytes(1000)]);
    const scan = new DiskScan(memoryDisk(disk), CHUNK);
    const seen: Buffer[] = [];
    while (scan.chunks.length < scan.count) {
      const c = await scan.next();
      await c.hash;
      seen.push(c.data);
      scan.release(c.data);
    }
    const m = await scan.manifest({ name: 'm', description: undefined, role: 'generic', created: new Date(0), sourcePath: undefined, partitionTable: { type: 'none', partitions: [] } });
    expect(m.chunks).toEqual([sha256(disk.subarray(0, CHUNK)), null, sha256(disk.subarray(2 * CHUNK, 3 * CHUNK)), sha256(disk.subarray(3 * CHUNK))]);
    expect(m.sha256).toBe(sha256(disk));
    expect(m.totals).toMatchObject({ zero: CHUNK, zeroChunks: 1, chunks: 4 });
    // Released buffers are read into again: one buffer served every chunk.
    expect(new Set(seen.map((b) => b.buffer)).size).toBe(1);
  });
});

describe('compression level by the look of the bytes', () => {
  it('takes random bytes for incompressible, and text, code, zeros or a mixed chunk for compressible', () => {
    const MiB = 1024 * 1024;
    expect(looksIncompressible(randomBytes(4 * MiB))).toBe(true);
    expect(looksIncompressible(zlib.gzipSync(randomBytes(MiB)))).toBe(true);
    expect(looksIncompressible(text(4 * MiB))).toBe(false);
    expect(looksIncompressible(Buffer.alloc(4 * MiB))).toBe(false);
    expect(looksIncompressible(Buffer.concat([randomBytes(3 * MiB), text(MiB)]))).toBe(false);
    expect(looksIncompressible(randomBytes(8 * 1024))).toBe(false); // too small to judge: the normal level
  });

  it('gives back the same bytes at either level, and still shrinks a compressible chunk', async () => {
    for (const raw of [randomBytes(4 * 1024 * 1024), text(4 * 1024 * 1024)]) {
      const packed = await compress(raw);
      expect(zlib.zstdDecompressSync(packed).equals(raw)).toBe(true);
    }
    expect((await compress(text(4 * 1024 * 1024))).length).toBeLessThan(1024 * 1024);
  });
});
