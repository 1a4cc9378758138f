/**
 * The hashing threads give the same SHA-256 as the main thread, for many
 * chunks in flight at once, and refuse a buffer they could not read in place.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/images/format.ts';
import { HashPool, sharedBuffer } from '../../src/images/hash-pool.ts';

describe('hash pool', () => {
  it('hashes shared buffers in place, many at once, as createHash does', async () => {
    const pool = new HashPool(2);
    try {
      const chunks = Array.from({ length: 16 }, (_, i) => {
        const b = sharedBuffer(64 * 1024 + i);
        randomBytes(b.length).copy(b);
        return b;
      });
      const got = await Promise.all(chunks.map((b, i) => pool.hash(b.subarray(0, b.length - (i % 3)))));
      expect(got).toEqual(chunks.map((b, i) => sha256(b.subarray(0, b.length - (i % 3)))));
    } finally {
      await pool.close();
    }
  });

  it('refuses a buffer that is not shared', async () => {
    const pool = new HashPool(1);
    try {
      expect(() => pool.hash(Buffer.alloc(16))).toThrow(/sharedBuffer/);
    } finally {
      await pool.close();
    }
  });
});
