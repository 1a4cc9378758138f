/**
 * The initramfs archive: cpio "newc", the one format the kernel unpacks.
 * Pure: entries in, buffers out. Every time stamp is 0 and inode numbers
 * follow the entry order, so the same inputs give the same bytes.
 */

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; major: number; minor: number; mode?: number };

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000, char: 0o020000 } as const;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(o: { ino: number; mode: number; nlink: number; size: number; rmajor: number; rminor: number; nameSize: number }): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return ['070701', hex8(o.ino), hex8(o.mode), hex8(0), hex8(0), hex8(o.nlink), hex8(0), hex8(o.size), hex8(0), hex8(0), hex8(o.rmajor), hex8(o.rminor), hex8(o.nameSize), hex8(0)].join('');
}

function record(ino: number, name: string, mode: number, nlink: number, data: Buffer, rmajor = 0, rminor = 0): Buffer[] {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const head = Buffer.from(header({ ino, mode, nlink, size: data.length, rmajor, rminor, nameSize: nameBytes.length }), 'ascii');
  const out: Buffer[] = [head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length))];
  if (data.length) out.push(data, Buffer.alloc(pad4(data.length)));
  return out;
}

/** The archive as a list of buffers (a 100 MB file is not copied). Parents must come before children. */
export function cpioArchive(entries: CpioEntry[]): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    if (!path || path.split('/').includes('..')) throw new Error(`cpio: bad path ${JSON.stringify(e.path)}`);
    if (seen.has(path)) throw new Error(`cpio: ${path} is in the archive twice`);
    seen.add(path);
    const ino = i + 1;
    switch (e.type) {
      case 'dir':
        out.push(...record(ino, path, TYPE_BITS.dir | (e.mode ?? 0o755), 2, Buffer.alloc(0)));
        break;
      case 'file':
        out.push(...record(ino, path, TYPE_BITS.file | (e.mode ?? 0o644), 1, e.data));
        break;
      case 'symlink':
        out.push(...record(ino, path, TYPE_BITS.symlink | 0o777, 1, Buffer.from(e.target, 'utf8')));
        break;
      case 'char':
        out.push(...record(ino, path, TYPE_BITS.char | (e.mode ?? 0o600), 1, Buffer.alloc(0), e.major, e.minor));
        break;
    }
  });
  out.push(...record(0, 'TRAILER!!!', 0, 1, Buffer.alloc(0)));
  return out;
}

/** Read an archive back: shared with the agent, which unpacks the environment's add-ons. */
export { cpioList } from '../shared/cpio-list.ts';
