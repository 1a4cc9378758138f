import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkPath, chunkSpan, isZero, parseManifest } from '../../src/shared/format.ts';
import { Limiter } from '../../src/shared/limit.ts';
import { collectGarbage, verifyImage } from '../../src/images/maintenance.ts';
import { detectFilesystem, guid, parseTable } from '../../src/shared/partitions.ts';
import { publish } from '../../src/images/publish.ts';
import { FileStore } from '../../src/images/store.ts';
import { progressLine } from '../../src/shared/progress.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-unit-images-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A disk image in memory, as a DiskReader. */
function memoryDisk(data: Buffer) {
  return { size: data.length, sectorSize: 512, format: 'raw', read: async (o: number, l: number) => data.subarray(o, o + l), close: async () => {} };
}

describe('image format', () => {
  it('addresses chunks by hash in two levels of folders', () => {
    expect(chunkPath('abcdef' + '0'.repeat(58))).toBe(`chunks/ab/cd/abcdef${'0'.repeat(58)}.zst`);
  });

  it('cuts a disk into fixed chunks, the last one shorter', () => {
    expect(chunkSpan(0, 4, 10)).toEqual({ offset: 0, length: 4 });
    expect(chunkSpan(2, 4, 10)).toEqual({ offset: 8, length: 2 });
  });

  it('tells zeros at any alignment', () => {
    const b = Buffer.alloc(4099);
    expect(isZero(b.subarray(3))).toBe(true);
    b[4098] = 1;
    expect(isZero(b)).toBe(false);
    expect(isZero(b.subarray(0, 4098))).toBe(true);
  });

  it('explains a truncated or invalid manifest in one sentence', () => {
    expect(() => parseManifest('{"format": "netrestore-im', 'the manifest of image x')).toThrow(/the manifest of image x is not valid JSON .*damaged or truncated/);
    expect(() => parseManifest('{"format": "something-else"}', 'm')).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
  });
});

describe('partition tables and filesystems (made by sfdisk and mkfs)', () => {
  const disk = join(dir, 'p.raw');
  const table = async (layout: string) => {
    await execa('truncate', ['-s', '0', disk]);
    await execa('truncate', ['-s', '64M', disk]);
    await execa('sfdisk', ['-q', disk], { input: layout });
    return parseTable(readFileSync(disk).subarray(0, 34 * 512 + 16384), 512);
  };

  it('reads a GPT: types, sizes in bytes, names', async () => {
    const t = await table('label: gpt\nstart=1M,size=8M,type=U,name=esp\nstart=9M,type=L\n');
    expect(t.type).toBe('gpt');
    expect(t.partitions).toEqual([
      { index: 1, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', typeName: 'EFI system', start: 1048576, size: 8388608, name: 'esp' },
      expect.objectContaining({ index: 2, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', typeName: 'Linux filesystem', start: 9437184 }),
    ]);
  });

  it('reads an MBR', async () => {
    const t = await table('label: dos\n1M,8M,7\n9M,,83\n');
    expect(t.type).toBe('mbr');
    expect(t.partitions.map((p) => [p.type, p.typeName, p.start])).toEqual([
      ['07', 'NTFS/exFAT', 1048576],
      ['83', 'Linux', 9437184],
    ]);
  });

  it('says none for a blank disk or a bare filesystem', () => {
    expect(parseTable(Buffer.alloc(20000), 512).type).toBe('none');
  });

  it.each([
    ['ext4', ['mke2fs', '-q', '-F', '-t', 'ext4']],
    ['fat32', ['mkfs.vfat', '-F', '32']],
    ['ntfs', ['mkntfs', '-q', '-F', '-Q']],
  ])('detects %s', async (fs, cmd) => {
    const f = join(dir, `${fs}.img`);
    await execa('truncate', ['-s', '0', f]);
    await execa('truncate', ['-s', '40M', f]);
    await execa(cmd[0]!, [...cmd.slice(1), f]);
    expect(detectFilesystem(readFileSync(f).subarray(0, 68 * 1024))).toBe(fs);
  });

  it('formats GUIDs with their first three fields little-endian', () => {
    const b = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');
    expect(guid(b, 0)).toBe('c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
  });
});

describe('store, publish and maintenance', () => {
  it('publishes, shares chunks between images, verifies, and collects only unused chunks', async () => {
    const store = await new FileStore(join(dir, 'store')).init();
    const a = Buffer.concat([Buffer.alloc(8192, 1), Buffer.alloc(8192), Buffer.alloc(8192, 2)]);
    const b = Buffer.concat([Buffer.alloc(8192, 1), Buffer.alloc(8192, 3), Buffer.alloc(100, 2)]);
    const ma = await publish(memoryDisk(a), store, { name: 'a', chunkSize: 8192 });
    expect(ma.chunks[1]).toBeNull();
    expect(ma.totals).toMatchObject({ raw: 24576, zero: 8192, zeroChunks: 1, shared: 0, chunks: 3 });
    const mb = await publish(memoryDisk(b), store, { name: 'b', chunkSize: 8192 });
    expect(mb.totals.shared).toBe(8192);
    expect(mb.chunks).toHaveLength(3);
    await expect(publish(memoryDisk(a), store, { name: 'a', chunkSize: 8192 })).rejects.toThrow(/an image named a exists already/);
    await expect(publish(memoryDisk(a), store, { name: '../evil' })).rejects.toThrow(/is not allowed/);
    expect((await verifyImage(store, ma)).ok).toBe(true);

    // While a publish holds its lock, nothing is collected.
    const unlock = await store.lock('publish-c');
    expect(await store.locks()).toHaveLength(1);
    await store.deleteManifest('a');
    expect(await collectGarbage(store)).toMatchObject({ deferred: true, chunksDeleted: 0 });
    await unlock();
    expect(await store.locks()).toHaveLength(0);
    const gc = await collectGarbage(store);
    expect(gc).toMatchObject({ deferred: false, chunksDeleted: 1 }); // a's last chunk; the first is b's too
    expect((await verifyImage(store, mb)).ok).toBe(true);
  });

  it('names the damaged chunk when one is changed on disk', async () => {
    const store = await new FileStore(join(dir, 'store2')).init();
    const m = await publish(memoryDisk(Buffer.alloc(16384, 7)), store, { name: 'x', chunkSize: 8192 });
    const file = store.chunkFile(m.chunks[0]!);
    writeFileSync(file, Buffer.from('not zstd at all'));
    const r = await verifyImage(store, m);
    expect(r.ok).toBe(false);
    expect(r.bad[0]).toMatchObject({ index: 0, hash: m.chunks[0] });
  });
});

describe('helpers', () => {
  it('runs at most n jobs at once and reports the first failure', async () => {
    const l = new Limiter(2);
    let running = 0;
    let peak = 0;
    for (let i = 0; i < 6; i++) {
      await l.run(async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      });
    }
    await l.drain();
    expect(peak).toBe(2);
    const f = new Limiter(2);
    await f.run(async () => {
      throw new Error('disk on fire');
    });
    await expect(f.drain()).rejects.toThrow('disk on fire');
  });

  it('draws a progress line with bytes, rate and ETA that fits the width', () => {
    const line = progressLine({ phase: 'restore', done: 512 * 1024 * 1024, total: 2048 * 1024 * 1024 }, 4, 80);
    expect(line).toMatch(/^writing the disk \[#+\.+\]  25% 512\.0 MiB\/2\.0 GiB 128\.0 MiB\/s ETA 0:12$/);
    expect(line.length).toBeLessThanOrEqual(80);
    // A narrow terminal cuts the label, never the numbers, and the line does not wrap.
    const narrow = progressLine({ phase: 'verify', done: 512 * 1024 * 1024, total: 2048 * 1024 * 1024 }, 4, 60);
    expect(narrow.length).toBeLessThanOrEqual(60);
    expect(narrow).toMatch(/ETA 0:12$/);
  });
});
