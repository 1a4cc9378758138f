/**
 * Image format v2: manifests of both versions parse (v1 as a v2 whose
 * partitions are kept whole); a scan zeroes free ranges before hashing and
 * does not read a chunk free throughout; the smallest target; and a restore
 * that leaves free chunks alone, compares only used areas, zeros free space
 * when asked, and refuses a disk below the image's minimum.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isZero, manifestFree, minTargetBytes, parseManifest, sha256, type Manifest } from '../../src/shared/format.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';
import { DiskScan, lastNonZeroEnd, readLayout } from '../../src/shared/scan.ts';
import type { DiskReader } from '../../src/shared/disk-reader.ts';
import { mappedUse, wholeUse } from '../../src/shared/used-areas.ts';
import { publish } from '../../src/images/publish.ts';
import { FileStore } from '../../src/images/store.ts';
import { verifyImage } from '../../src/images/maintenance.ts';
import { restore } from '../../src/restore-agent/restore.ts';
import { closeTarget, openTarget } from '../../src/restore-agent/target.ts';
import type { ImagesClient } from '../../src/restore-agent/client.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-format-v2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;
const H = (c: string) => c.repeat(64);

const v1 = {
  format: 'netrestore-image',
  version: 1,
  name: 'old',
  description: '',
  created: '2026-01-01T00:00:00.000Z',
  role: 'generic',
  warnings: [],
  source: { size: 3 * CHUNK, logicalSectorSize: 512 },
  partitionTable: { type: 'mbr', diskId: '12345678', partitions: [{ index: 1, type: '83', start: MiB / 4, size: CHUNK * 2, filesystem: 'ext4' }] },
  chunkSize: CHUNK,
  chunks: [H('a'), null, H('b')],
  totals: { raw: 3 * CHUNK, zero: CHUNK, stored: 10, shared: 0, chunks: 3, zeroChunks: 1 },
  sha256: H('c'),
};

describe('manifest versions', () => {
  it('reads a v1 manifest as a v2 one: every partition kept whole, nothing free, restores onto its source size', () => {
    const m = parseManifest(JSON.stringify(v1), 'v1');
    expect(m.version).toBe(2);
    expect(m.minTargetBytes).toBe(3 * CHUNK);
    expect(m.totals.free).toBe(0);
    expect(m.partitions).toEqual([{ index: 1, fs: 'ext4', mapped: false, usedBytes: CHUNK * 2, used: [], reason: expect.stringMatching(/format 1/) }]);
    expect(manifestFree(m)).toEqual([]);
    // What it became is a valid v2 manifest: written back (export, import) it parses again, the same.
    expect(parseManifest(JSON.stringify(m), 'again')).toEqual(m);
  });

  it('reads a v2 manifest and refuses one that is inconsistent or of an unknown version', () => {
    const v2 = { ...v1, version: 2, partitions: [mappedUse(1, 'ext4', CHUNK * 2, [{ start: 0, length: 4096 }])], minTargetBytes: 2 * CHUNK, totals: { ...v1.totals, free: 0 } };
    expect(parseManifest(JSON.stringify(v2), 'v2').partitions[0]!.mapped).toBe(true);
    expect(() => parseManifest(JSON.stringify({ ...v2, minTargetBytes: 4 * CHUNK }), 'big')).toThrow(/minTargetBytes: .*more than the/);
    expect(() => parseManifest(JSON.stringify({ ...v2, partitions: [wholeUse(7, undefined, 1, 'x')] }), 'idx')).toThrow(/partition 7 is not in the partition table/);
    expect(() => parseManifest(JSON.stringify({ ...v2, partitions: undefined }), 'np')).toThrow(/partitions/);
    const bad = (used: [number, number][]) => JSON.stringify({ ...v2, partitions: [{ ...v2.partitions[0], used }] });
    expect(() => parseManifest(bad([[0, 4096], [8192, CHUNK * 2]]), 'past')).toThrow(/partitions\.0\.used\.1: .*ends past the partition/);
    expect(() => parseManifest(bad([[8192, 4096], [0, 4096]]), 'order')).toThrow(/out of order/);
    expect(parseManifest(bad([[0, 4096], [8192, 4096]]), 'ok').partitions[0]!.used).toHaveLength(2);
    expect(() => parseManifest(JSON.stringify({ ...v1, version: 3 }), 'v3')).toThrow(/version/);
    // A v1 manifest carries no v2 fields.
    expect(() => parseManifest(JSON.stringify({ ...v1, minTargetBytes: 5 }), 'mixed')).toThrow(/minTargetBytes/);
  });

  it('counts the smallest target: the partitions\' end, a GPT backup, data past the partitions', () => {
    const table = (type: 'gpt' | 'mbr') => ({ type, partitions: [{ index: 1, type: '83', start: 1 * MiB, size: 10 * MiB }] });
    expect(minTargetBytes(table('mbr'), 512, 100 * MiB, 0)).toBe(11 * MiB);
    expect(minTargetBytes(table('gpt'), 512, 100 * MiB, 0)).toBe(11 * MiB + 33 * 512);
    expect(minTargetBytes(table('mbr'), 512, 100 * MiB, 50 * MiB + 3)).toBe(50 * MiB + 512);
    expect(minTargetBytes(table('mbr'), 512, 5 * MiB, 0)).toBe(5 * MiB);
    expect(minTargetBytes({ type: 'none', partitions: [] }, 512, 5 * MiB, 0)).toBe(512);
  });

  it('finds where the last non-zero byte ends', () => {
    const b = Buffer.alloc(3 * 4096 + 100);
    expect(lastNonZeroEnd(b)).toBe(0);
    b[5000] = 1;
    expect(lastNonZeroEnd(b)).toBe(5001);
    b[b.length - 1] = 9;
    expect(lastNonZeroEnd(b)).toBe(b.length);
  });
});

/**
 * An 8 MiB MBR disk, one partition [1 MiB, 7 MiB) full of random "old data".
 * Its map: the guard MiBs at both ends and 128 KiB at 3 MiB are used; the
 * rest of the partition is free. Everything outside it is random too (used).
 */
function testDisk() {
  const size = 8 * MiB;
  const disk = randomBytes(size);
  disk.fill(0, 0, 512);
  const start = 1 * MiB;
  const psize = 6 * MiB;
  disk.writeUInt8(0x83, 446 + 4);
  disk.writeUInt32LE(start / 512, 446 + 8);
  disk.writeUInt32LE(psize / 512, 446 + 12);
  disk.writeUInt32LE(0x12345678, 440);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  disk.fill(0, 7 * MiB); // nothing past the partition
  const use = mappedUse(1, 'ext4', psize, [{ start: 2 * MiB, length: 128 * 1024 }]);
  // Free (absolute): [2 MiB, 3 MiB) and [3 MiB + 128 KiB, 7 MiB - 64 KiB) (the partition's last 64 KiB are kept).
  return { size, disk, use, mapUsed: async () => [use] };
}

function memoryDisk(data: Buffer, reads: number[] = []): DiskReader {
  return {
    size: data.length,
    sectorSize: 512,
    format: 'raw',
    read: async (o, l) => {
      reads.push(o);
      return Buffer.from(data.subarray(o, o + l));
    },
    close: async () => {},
  };
}

/** The disk as v2 sees it: free areas zeroed. */
function zeroFree(disk: Buffer, m: Manifest): Buffer {
  const out = Buffer.from(disk);
  for (const f of manifestFree(m)) out.fill(0, f.start, f.start + f.length);
  return out;
}

describe('scan with free space', () => {
  it('zeroes free ranges before hashing, does not read wholly free chunks, and counts free bytes', async () => {
    const { disk, mapUsed } = testDisk();
    const reads: number[] = [];
    const reader = memoryDisk(disk, reads);
    const layout = await readLayout(reader, { path: 'mem', mapUsed });
    expect(layout.uses[0]!.mapped).toBe(true);
    const scan = new DiskScan(reader, CHUNK, layout);
    const freeFlags: boolean[] = [];
    while (scan.chunks.length < scan.count) {
      const c = await scan.next();
      freeFlags.push(c.free);
      await c.hash;
      scan.release(c.data);
    }
    const m = await scan.manifest({ name: 'v2', description: undefined, role: 'generic', created: new Date(0), sourcePath: undefined, partitionTable: layout.table });
    const seen = zeroFree(disk, m);
    // Free: [1 MiB + 1 MiB guard … 3 MiB) and [3 MiB + 128 KiB … 7 MiB - 64 KiB end guard).
    expect(m.totals.free).toBe(MiB + 4 * MiB - 192 * 1024);
    expect(manifestFree(m)).toEqual([
      { start: 2 * MiB, length: MiB },
      { start: 3 * MiB + 128 * 1024, length: 4 * MiB - 192 * 1024 },
    ]);
    for (let i = 0; i < m.chunks.length; i++) {
      const c = seen.subarray(i * CHUNK, (i + 1) * CHUNK);
      expect(m.chunks[i], `chunk ${i}`).toBe(isZero(c) ? null : sha256(c));
    }
    expect(m.sha256).toBe(sha256(seen));
    const wholly = freeFlags.flatMap((f, i) => (f ? [i] : []));
    expect(wholly).toEqual([8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]);
    for (const i of wholly) expect(reads).not.toContain(i * CHUNK);
    // Partial chunk 12 ([3 MiB, 3.25 MiB): 128 KiB used, 128 KiB free) holds only its used half.
    expect(m.chunks[12]).toBe(sha256(Buffer.concat([disk.subarray(3 * MiB, 3 * MiB + 128 * 1024), Buffer.alloc(128 * 1024)])));
    expect(m.minTargetBytes).toBe(7 * MiB);
    expect(m.partitions).toEqual(layout.uses);
  });

  it('keeps every byte with raw, and keeps partitions whole without a disk path', async () => {
    const { disk, mapUsed } = testDisk();
    const raw = await readLayout(memoryDisk(disk), { path: 'mem', raw: true, mapUsed });
    expect(raw.uses).toEqual([expect.objectContaining({ index: 1, mapped: false, reason: expect.stringMatching(/--raw/) })]);
    const none = await readLayout(memoryDisk(disk), {});
    expect(none.uses[0]!.mapped).toBe(false);
  });

  it('counts data past the partitions in the smallest target', async () => {
    const { disk, mapUsed } = testDisk();
    disk[7 * MiB + 1000] = 5;
    const store = await new FileStore(join(dir, 'store-tail')).init();
    const m = await publish(memoryDisk(disk), store, { name: 'tail', chunkSize: CHUNK, sourcePath: 'mem', mapUsed });
    expect(m.minTargetBytes).toBe(7 * MiB + 1024);
  });
});

/** A client that serves chunks from a store in this process, and counts what it fetched. */
function localClient(store: FileStore, fetched: string[]): ImagesClient {
  return {
    chunk: async (h: string, into?: Buffer) => {
      fetched.push(h);
      const packed = await store.readChunk(h);
      if (into && into.length >= packed.length) {
        packed.copy(into);
        return into.subarray(0, packed.length);
      }
      return packed;
    },
  } as unknown as ImagesClient;
}

describe('restore of a v2 image', () => {
  it('publishes only used bytes; restores onto a full disk leaving free space alone; delta ignores free space; --zero-free zeros it; refuses a disk below the minimum', async () => {
    const { disk, size, mapUsed } = testDisk();
    const store = await new FileStore(join(dir, 'store')).init();
    const m = await publish(memoryDisk(disk), store, { name: 'v2', chunkSize: CHUNK, sourcePath: 'mem', mapUsed });
    const whole = await publish(memoryDisk(disk), await new FileStore(join(dir, 'store-raw')).init(), { name: 'raw', chunkSize: CHUNK, raw: true });
    expect(m.totals.stored).toBeLessThan(whole.totals.stored * 0.6);
    expect((await verifyImage(store, m)).ok).toBe(true);

    const path = join(dir, 'target.raw');
    const old = randomBytes(size);
    writeFileSync(path, old);
    const fetched: string[] = [];
    const client = localClient(store, fetched);
    let t = await openTarget(path, size);
    const free = manifestFree(m);
    const stats = await restore(client, m, t);
    await closeTarget(t);
    expect(stats.verified).toBe(true);
    expect(stats.chunksFree).toBe(18);
    const got = readFileSync(path);
    const inFree = (o: number) => free.some((f) => o >= f.start && o < f.start + f.length);
    // Used areas equal the source's; free areas still hold the target's old bytes.
    for (let o = 0; o < size; o += 4096) {
      const want = inFree(o) ? old : disk;
      if (!got.subarray(o, o + 4096).equals(want.subarray(o, o + 4096))) throw new Error(`byte ${o} (${inFree(o) ? 'free' : 'used'}) differs`);
    }

    // Delta: the same image again onto it, whose free space differs from the source's: nothing fetched or written.
    fetched.length = 0;
    t = await openTarget(path, size);
    const again = await restore(client, m, t);
    await closeTarget(t);
    expect(again).toMatchObject({ bytesFetched: 0, bytesWritten: 0, chunksWritten: 0, verified: true });
    expect(fetched).toEqual([]);

    // --zero-free: the disk as the image sees it, free space zeros.
    t = await openTarget(path, size);
    const clean = await restore(client, m, t, { zeroFree: true });
    await closeTarget(t);
    expect(clean.chunksFree).toBe(0);
    expect(readFileSync(path).equals(zeroFree(disk, m))).toBe(true);
    expect(sha256(readFileSync(path))).toBe(m.sha256);

    // Smaller than the source, at least the minimum (7 MiB): the image up to its end.
    const small = join(dir, 'small.raw');
    writeFileSync(small, randomBytes(m.minTargetBytes));
    t = await openTarget(small, 0);
    await restore(client, m, t);
    await closeTarget(t);
    const s = readFileSync(small);
    expect(s.length).toBe(m.minTargetBytes);
    for (const [a, b] of [[0, 2 * MiB], [3 * MiB, 3 * MiB + 128 * 1024], [7 * MiB - 64 * 1024, 7 * MiB]] as const) expect(s.subarray(a, b).equals(disk.subarray(a, b))).toBe(true);

    // Below the minimum: refused, naming both sizes.
    const tiny = join(dir, 'tiny.raw');
    writeFileSync(tiny, Buffer.alloc(m.minTargetBytes - 512));
    t = await openTarget(tiny, 0);
    const err = await restore(client, m, t).catch((e: unknown) => e);
    await closeTarget(t);
    expect(isNetrestoreError(err, 'TARGET_TOO_SMALL')).toBe(true);
    expect((err as Error).message).toContain(`${m.minTargetBytes - 512} bytes`);
    expect((err as Error).message).toContain(`${m.minTargetBytes} bytes`);
  });
});
