/**
 * The extent map of a file target: holes and unwritten extents are known
 * zeros; delayed allocations are data; output it cannot fully read is not
 * trusted. The last test asks the real filefrag about a real sparse file.
 */
import { execa } from 'execa';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileHoles, holeTest, parseFilefrag } from '../../src/restore-agent/holes.ts';

const OUTPUT = `Filesystem type is: ef53
File size of /tmp/sp.raw is 10485760 (10485760 blocks of 1 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:  4997120.. 5001215: 97061191680..97061195775:   4096:    4997120:
   1:  6000000.. 6004095:          0..         0:      0:             unknown_loc,delalloc
   2:  8388608.. 9437183: 97044660224..97045708799: 1048576: 97064583168: last,unwritten
/tmp/sp.raw: 3 extents found
`;

const haveFilefrag = (await execa('filefrag', ['-V'], { reject: false })).exitCode === 0;

describe('file holes', () => {
  it('reads data extents from filefrag, leaving unwritten ones out', () => {
    expect(parseFilefrag(OUTPUT)).toEqual([
      [4997120, 5001216],
      [6000000, 6004096],
    ]);
  });

  it('trusts nothing it cannot fully read', () => {
    expect(parseFilefrag(OUTPUT.replace('3 extents found', '4 extents found'))).toBeUndefined();
    expect(parseFilefrag(OUTPUT.replace('blocks of 1 bytes', 'blocks of 4096 bytes'))).toBeUndefined();
    expect(parseFilefrag('filefrag: Operation not supported')).toBeUndefined();
  });

  it('a range is a hole only when no data extent touches it', () => {
    const hole = holeTest([[4997120, 5001216]]);
    expect(hole(0, 4_997_120)).toBe(true);
    expect(hole(0, 4_997_121)).toBe(false);
    expect(hole(5_001_215, 10)).toBe(false);
    expect(hole(5_001_216, 4096)).toBe(true);
    const many = holeTest([
      [300, 400],
      [0, 100],
      [1000, 2000],
    ]);
    expect([0, 100, 250, 350, 400, 900, 1999, 2000].map((o) => many(o, 50))).toEqual([false, true, true, false, true, true, false, true]);
  });

  it.runIf(haveFilefrag)('asks the real filefrag about a sparse file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-holes-'));
    try {
      const path = join(dir, 'disk.raw');
      const fd = openSync(path, 'w');
      ftruncateSync(fd, 16 << 20);
      writeSync(fd, Buffer.from('data'), 0, 4, 9 << 20);
      closeSync(fd);
      const hole = await fileHoles(path);
      if (!hole) return; // a file system without FIEMAP (tmpfs): every chunk is read instead
      expect(hole(0, 4 << 20)).toBe(true);
      expect(hole(8 << 20, 4 << 20)).toBe(false);
      expect(hole(12 << 20, 4 << 20)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
