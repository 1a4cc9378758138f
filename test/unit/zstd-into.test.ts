/**
 * Decompression into the caller's buffer: the bytes of a good frame land in
 * that buffer, a frame larger than allowed, damaged data and bytes after the
 * frame are told apart, and an error never poisons the next chunk. The same
 * cases run on the fallback through zlib's public call.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { makeDecompressInto } from '../../src/shared/zstd-into.ts';

const MAX = 1024 * 1024;
const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `${i} INFO service started\n`).join('')).subarray(0, MAX);
const random = randomBytes(MAX);
const pack = (b: Buffer) => zlib.zstdCompressSync(b);
// A zlib whose streams have no native handle of the shape the fast path drives.
const withoutHandle = { ...zlib, ZstdDecompress: class {} } as unknown as typeof zlib;

describe.each([
  ['through the native handle', zlib],
  ['through the public call', withoutHandle],
])('decompressInto, %s', (_label, z) => {
  it('puts a frame into the buffer and returns a view of it', () => {
    const into = makeDecompressInto(z);
    const out = Buffer.alloc(MAX + 4096);
    for (const raw of [random, text, text.subarray(0, 1000)]) {
      const got = into(pack(raw), out, MAX);
      expect(got?.equals(raw)).toBe(true);
      expect(got?.buffer).toBe(out.buffer);
    }
  });

  it('says when a frame holds more than allowed', () => {
    const into = makeDecompressInto(z);
    expect(into(pack(text), Buffer.alloc(MAX + 1), MAX - 1)).toBeUndefined();
    expect(into(pack(text.subarray(0, 10)), Buffer.alloc(MAX + 1), MAX)?.toString()).toBe(text.subarray(0, 10).toString());
  });

  it('throws on damaged data and then decompresses the next frame as usual', () => {
    const into = makeDecompressInto(z);
    const out = Buffer.alloc(MAX + 1);
    expect(() => into(randomBytes(500), out, MAX)).toThrow(/frame|unknown|corrupt/i);
    expect(into(pack(text), out, MAX)?.equals(text)).toBe(true);
  });

  // Node up to 24.9 gave a truncated frame back short; 24.21 throws "unexpected end of file".
  // Either way it never passes for a whole chunk: the worker turns both into a refetch.
  it('refuses a truncated frame: it throws, or gives it back short for the length check', () => {
    const into = makeDecompressInto(z);
    const packed = pack(random);
    let got: Buffer | undefined;
    try {
      got = into(packed.subarray(0, packed.length - 1000), Buffer.alloc(MAX + 1), MAX);
    } catch (err) {
      expect((err as Error).message).toMatch(/end of file|truncated|corrupt/i);
      return;
    }
    expect(got === undefined ? 0 : got.length).toBeLessThan(MAX);
  });

  it('needs a byte of room past the largest frame', () => {
    expect(() => makeDecompressInto(z)(pack(text), Buffer.alloc(MAX), MAX)).toThrow(RangeError);
  });
});

it('refuses bytes after the end of the frame', () => {
  const into = makeDecompressInto(zlib);
  const two = Buffer.concat([pack(text.subarray(0, 100)), pack(text.subarray(0, 100))]);
  expect(() => into(two, Buffer.alloc(MAX + 1), MAX)).toThrow(/after the end of the zstd frame/);
});
