/**
 * Where a file target holds no data: holes and unwritten extents read as
 * zeros, so a restore need not read them to know it. A raw VM disk file is
 * sparse, and reading a hole is not free (the kernel fills page cache with
 * zeros for it): a delta restore of a file restored before reads only what
 * was written. The extent map comes from `filefrag` (e2fsprogs, FIEMAP);
 * where it cannot say, every chunk is read as before.
 */
import { execa } from 'execa';

/** Byte ranges [start, end) that hold data, from `filefrag -v -b1` output; undefined if it cannot be read. */
export function parseFilefrag(text: string): [number, number][] | undefined {
  if (!/^File size of .* is \d+ \(\d+ blocks of 1 bytes\)$/m.test(text)) return undefined;
  const data: [number, number][] = [];
  let extents = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):.*:\s*([\w,]*)\s*$/.exec(line);
    if (!m) continue;
    extents++;
    // Unwritten (preallocated) extents read as zeros; anything else, delayed allocation included, is data.
    if (m[3]!.split(',').includes('unwritten')) continue;
    data.push([Number(m[1]), Number(m[2]) + 1]);
  }
  // Every extent it announced was understood, or none of it is trusted.
  if (!new RegExp(`: ${extents} extents? found\\s*$`).test(text)) return undefined;
  return data;
}

/**
 * A test for "this range holds no data" over the data extents of a file. A
 * binary search: a large disk file has hundreds of thousands of chunks and
 * may have thousands of extents.
 */
export function holeTest(data: [number, number][]): (offset: number, length: number) => boolean {
  const sorted = [...data].sort((a, b) => a[0] - b[0]);
  return (offset, length) => {
    // The last extent that starts before the range ends is the only one that can reach into it
    // (extents do not overlap).
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]![0] < offset + length) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 || sorted[lo - 1]![1] <= offset;
  };
}

/** The hole test of a regular file, or undefined where filefrag is missing or the file system cannot tell. */
export async function fileHoles(path: string): Promise<((offset: number, length: number) => boolean) | undefined> {
  const r = await execa('filefrag', ['-v', '-b1', path], { reject: false, timeout: 30_000 });
  const data = r.exitCode === 0 ? parseFilefrag(r.stdout) : undefined;
  return data && holeTest(data);
}
