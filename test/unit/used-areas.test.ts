import { describe, expect, it } from 'vitest';
import { clipExtents, END_GUARD_BYTES, freeAreas, freeInChunk, GUARD_BYTES, mappedUse, normalizeExtents, parseDomainMap, wholeUse, zeroRanges } from '../../src/shared/used-areas.ts';

const MiB = 1024 * 1024;

describe('parseDomainMap', () => {
  it('reads the + areas of a map partclone -D wrote', () => {
    const text = [
      '# Domain logfile created by unset_name v0.3.23',
      '# Source: t.img',
      '# Offset: 0x00000000',
      '# current_pos  current_status',
      '0x10000000     ?',
      '#      pos        size  status',
      '0x00000000  0x007CC800  +',
      '0x007CC800  0x00033C00  ?',
      '0x00800400  0x000C0C00  +',
      '0x008C1000  0x00F3F400  ?',
    ].join('\n');
    expect(parseDomainMap(text)).toEqual([
      { start: 0, length: 0x7cc800 },
      { start: 0x800400, length: 0xc0c00 },
    ]);
  });
  it('reads a map whose position line carries a pass number', () => {
    expect(parseDomainMap('0x100 + 1\n0x0 0x100 +\n')).toEqual([{ start: 0, length: 0x100 }]);
  });
  it('refuses a line that is not hexadecimal numbers', () => {
    expect(() => parseDomainMap('0x0 ?\nzz 0x10 +\n')).toThrow(/not two hexadecimal/);
    expect(() => parseDomainMap('0x0 ?\n0x10\n')).toThrow(/no size/);
  });
  it('an empty map has no used areas', () => {
    expect(parseDomainMap('# nothing\n')).toEqual([]);
  });
});

describe('normalizeExtents', () => {
  it('rounds outward to 4 KiB and never loses a used byte', () => {
    expect(normalizeExtents([{ start: 0x800400, length: 0xc0c00 }], 4096, 0)).toEqual([{ start: 0x800000, length: 0xc1000 }]);
  });
  it('merges overlapping, touching and near extents, sorted', () => {
    const r = normalizeExtents([
      { start: 10 * MiB, length: MiB },
      { start: 0, length: 4096 },
      { start: 4096, length: 4096 },
      { start: 8192 + 1000, length: 10 },
      { start: 11 * MiB + 32 * 1024, length: 4096 },
    ]);
    expect(r).toEqual([
      { start: 0, length: 12288 },
      { start: 10 * MiB, length: MiB + 36 * 1024 },
    ]);
  });
  it('keeps a gap as large as the minimum', () => {
    expect(normalizeExtents([{ start: 0, length: 4096 }, { start: 4096 + 65536, length: 4096 }]).length).toBe(2);
  });
});

describe('partition records', () => {
  it('a mapped partition keeps its guard areas and counts what it uses', () => {
    const u = mappedUse(2, 'ext4', 100 * MiB, [{ start: 50 * MiB, length: 4096 }]);
    expect(u.used).toEqual([
      [0, GUARD_BYTES],
      [50 * MiB, 4096],
      [100 * MiB - END_GUARD_BYTES, END_GUARD_BYTES],
    ]);
    expect(u.usedBytes).toBe(MiB + 4096 + END_GUARD_BYTES);
    expect(u.mapped).toBe(true);
  });
  it('a tiny partition is all guard', () => {
    const u = mappedUse(1, 'swap', 512 * 1024, []);
    expect(u.used).toEqual([[0, 512 * 1024]]);
  });
  it('a partition kept whole says why and uses all of it', () => {
    expect(wholeUse(3, undefined, 5 * MiB, 'unknown filesystem')).toEqual({ index: 3, mapped: false, usedBytes: 5 * MiB, used: [], reason: 'unknown filesystem' });
  });
  it('clips to the partition', () => {
    expect(clipExtents([{ start: -10, length: 20 }, { start: 90, length: 20 }, { start: 200, length: 1 }], 100)).toEqual([
      { start: 0, length: 10 },
      { start: 90, length: 10 },
    ]);
  });
});

describe('free areas and chunks', () => {
  const parts = [
    { index: 1, start: 1 * MiB, size: 10 * MiB },
    { index: 2, start: 11 * MiB, size: 10 * MiB },
  ];
  const uses = [mappedUse(1, 'ext4', 10 * MiB, [{ start: 4 * MiB, length: MiB }]), wholeUse(2, 'LVM2_member', 10 * MiB, 'LVM physical volume')];
  const free = freeAreas(uses, parts);

  it('only mapped partitions have free areas, absolute on the disk', () => {
    expect(free).toEqual([
      { start: 2 * MiB, length: 3 * MiB },
      { start: 6 * MiB, length: 5 * MiB - END_GUARD_BYTES },
    ]);
  });
  it('a chunk inside a free area is free throughout', () => {
    expect(freeInChunk(free, 7 * MiB, MiB)).toEqual({ all: true, ranges: [{ start: 0, length: MiB }] });
  });
  it('a chunk across used and free bytes names the free ranges relative to itself', () => {
    expect(freeInChunk(free, 4 * MiB, 4 * MiB)).toEqual({ all: false, ranges: [{ start: 0, length: MiB }, { start: 2 * MiB, length: 2 * MiB }] });
  });
  it('a chunk of a partition kept whole, or outside partitions, has nothing free', () => {
    expect(freeInChunk(free, 12 * MiB, 4 * MiB)).toEqual({ all: false, ranges: [] });
    expect(freeInChunk(free, 0, MiB)).toEqual({ all: false, ranges: [] });
  });
  it('finds the ranges among many extents', () => {
    const many = Array.from({ length: 10000 }, (_, i) => ({ start: i * 8192, length: 4096 }));
    expect(freeInChunk(many, 8192 * 5000 + 2048, 8192)).toEqual({
      all: false,
      ranges: [
        { start: 0, length: 2048 },
        { start: 6144, length: 2048 },
      ],
    });
  });
  it('zeroRanges clears only the free bytes', () => {
    const b = Buffer.alloc(16, 0xff);
    zeroRanges(b, [{ start: 2, length: 3 }, { start: 14, length: 10 }]);
    expect([...b]).toEqual([255, 255, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0]);
  });
});
