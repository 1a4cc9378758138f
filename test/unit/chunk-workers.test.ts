/**
 * The restore's disk threads on a real file: a good chunk is written (through
 * O_DIRECT where aligned, through the page cache for a short tail) and reads
 * back; a chunk that fails its check is refused before a byte is written; and
 * the threads hash what the target holds as createHash does.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, constants, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/shared/format.ts';
import { compress } from '../../src/shared/zstd.ts';
import { leastBusy } from '../../src/shared/threads.ts';
import { ChunkIoError, ChunkWorkers, sharedBuffer } from '../../src/restore-agent/chunk-workers.ts';

const CHUNK = 64 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'nr-chunk-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function shared(b: Buffer): Promise<Buffer> {
  const packed = await compress(b);
  const s = sharedBuffer(packed.length);
  packed.copy(s);
  return s;
}

/** A target file of `size` bytes, opened as the restore opens it: plain, and with O_DIRECT when `direct`. */
function target(name: string, size: number, direct: boolean) {
  const path = join(dir, name);
  writeFileSync(path, Buffer.alloc(size));
  const fd = openSync(path, 'r+');
  const directFd = direct ? openSync(path, constants.O_RDWR | constants.O_DIRECT) : -1;
  return { path, fd, directFd, close: () => [fd, directFd].filter((f) => f >= 0).forEach((f) => closeSync(f)) };
}

/** Threads on a fresh target for the length of `f`; both closed after, whatever `f` does. */
async function withThreads(name: string, size: number, direct: boolean, threads: number, f: (t: ReturnType<typeof target>, w: ChunkWorkers) => Promise<void>): Promise<void> {
  const t = target(name, size, direct);
  const w = new ChunkWorkers(t.fd, t.directFd, CHUNK, threads);
  try {
    await f(t, w);
  } finally {
    await w.close();
    t.close();
  }
}

describe.each([
  ['with O_DIRECT', true],
  ['through the page cache', false],
])('chunk threads, %s', (_label, direct) => {
  it('writes checked chunks, a short tail too, and they read back', async () => {
    const size = 3 * CHUNK + 1000; // the last chunk is not a multiple of 4096: it cannot go direct
    await withThreads(`ok-${direct}`, size, direct, 2, async (t, w) => {
      const disk = randomBytes(size);
      const results = await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const raw = disk.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK));
          return w.put(await shared(raw), sha256(raw), i * CHUNK, raw.length, true);
        }),
      );
      expect(results).toEqual(Array(4).fill({ readBackDiffers: false }));
      expect(readFileSync(t.path).equals(disk)).toBe(true);
      expect(await w.probe(CHUNK, CHUNK)).toEqual({ blank: false, hash: sha256(disk.subarray(CHUNK, 2 * CHUNK)) });
      expect(await w.check(3 * CHUNK, 1000, sha256(disk.subarray(3 * CHUNK)))).toBe(true);
      expect(await w.check(0, CHUNK, sha256(Buffer.from('something else')))).toBe(false);
    });
  });

  it('refuses a chunk whose bytes do not match, or that is not zstd, and writes nothing', async () => {
    await withThreads(`bad-${direct}`, 2 * CHUNK, direct, 1, async (t, w) => {
      const raw = randomBytes(CHUNK);
      expect(await w.put(await shared(raw), sha256(randomBytes(8)), 0, CHUNK, true)).toEqual({ bad: 'its checksum does not match' });
      const junk = sharedBuffer(100);
      randomBytes(100).copy(junk);
      expect((await w.put(junk, sha256(raw), CHUNK, CHUNK, true)).bad).toMatch(/^it cannot be decompressed/);
      expect((await w.put(await shared(raw.subarray(0, 100)), sha256(raw.subarray(0, 100)), 0, CHUNK, true)).bad).toBe(`it holds 100 bytes where the manifest says ${CHUNK}`);
      expect((await w.put(await shared(raw), sha256(raw), 0, CHUNK - 4096, true)).bad).toBe(`it holds more bytes than the ${CHUNK - 4096} the manifest says`);
      expect(readFileSync(t.path).equals(Buffer.alloc(2 * CHUNK))).toBe(true);
      expect(await w.probe(0, CHUNK)).toEqual({ blank: true });
    });
  });

  it('writes zeros over data, and names a read past the end of the disk', async () => {
    await withThreads(`zero-${direct}`, 2 * CHUNK, direct, 1, async (t, w) => {
      const raw = randomBytes(CHUNK);
      await w.put(await shared(raw), sha256(raw), CHUNK, CHUNK, false);
      expect(await w.check(CHUNK, CHUNK, null)).toBe(false);
      expect(await w.zero(CHUNK, CHUNK, true)).toBe(false);
      expect(await w.check(CHUNK, CHUNK, null)).toBe(true);
      const err = await w.probe(2 * CHUNK, CHUNK).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChunkIoError);
      expect(err).toMatchObject({ code: 'EOF', message: `unexpected end of disk at byte ${2 * CHUNK}` });
    });
  });
});

it('takes only bodies the threads can read in place', async () => {
  const w = new ChunkWorkers(-1, -1, CHUNK, 1);
  await expect(w.put(Buffer.alloc(16), sha256(Buffer.alloc(16)), 0, 16, false)).rejects.toThrow(/sharedBuffer/);
  await w.close();
});

it('hands a call to the thread with the fewest calls waiting', () => {
  expect(leastBusy([0, 0, 0])).toBe(0);
  expect(leastBusy([2, 1, 3])).toBe(1);
  expect(leastBusy([1, 1, 0])).toBe(2);
  expect(leastBusy([4])).toBe(0);
});
