/**
 * Reading a cpio "newc" archive (build-env/cpio.ts writes them): the agent
 * unpacks the restore environment's add-ons with it, tests read the initrd.
 * Pure: bytes in, entries out.
 */

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** Path, mode and data of each entry; throws on a truncated or malformed archive. */
export function cpioList(archive: Buffer): { path: string; mode: number; data: Buffer; rdev: [number, number] }[] {
  const out: { path: string; mode: number; data: Buffer; rdev: [number, number] }[] = [];
  let at = 0;
  for (;;) {
    if (at + 110 > archive.length) throw new Error('cpio: truncated header');
    const h = archive.subarray(at, at + 110).toString('ascii');
    if (!h.startsWith('070701')) throw new Error(`cpio: bad magic at ${at}`);
    const field = (k: number) => parseInt(h.slice(6 + k * 8, 14 + k * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = at + 110;
    const path = archive.subarray(nameStart, nameStart + nameSize - 1).toString('utf8');
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    if (path === 'TRAILER!!!') return out;
    const data = archive.subarray(dataStart, dataStart + size);
    if (data.length !== size) throw new Error(`cpio: ${path} is truncated`);
    out.push({ path, mode, data, rdev: [field(9), field(10)] });
    at = dataStart + size + pad4(size);
  }
}
