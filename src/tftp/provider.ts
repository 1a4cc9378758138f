/**
 * Where TFTP files come from: a read-only directory tree, with virtual files
 * (generated per request) in front of it. Client paths never map straight to
 * disk: they are checked as text first, then resolved and confined to the
 * root with realpath, so a symlink cannot lead out of it.
 */
import { open, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';

export interface OpenFile {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface RequestContext {
  client: { address: string; port: number };
}

export interface FileProvider {
  /** Resolve and open a file, or throw BOOT_FILE_NOT_FOUND / BOOT_FILE_DENIED. */
  open(path: string, ctx: RequestContext): Promise<OpenFile>;
}

/** Text checks that need no file system: refused outright. */
export function checkPath(path: string): string {
  if (path.includes('\0')) throw new NetrestoreError('BOOT_FILE_DENIED', 'NUL in file name');
  if (path.includes('\\')) throw new NetrestoreError('BOOT_FILE_DENIED', 'backslash in file name');
  if (path.startsWith('/')) throw new NetrestoreError('BOOT_FILE_DENIED', 'absolute path');
  const parts = path.split('/');
  if (parts.some((p) => p === '..')) throw new NetrestoreError('BOOT_FILE_DENIED', 'parent directory in path');
  const clean = parts.filter((p) => p !== '' && p !== '.').join('/');
  if (clean === '') throw new NetrestoreError('BOOT_FILE_NOT_FOUND', 'empty file name');
  return clean;
}

function memoryFile(data: Buffer): OpenFile {
  return {
    size: data.length,
    read: async (offset, length) => data.subarray(offset, offset + length),
    close: async () => {},
  };
}

export class DirectoryProvider implements FileProvider {
  readonly #root: string;
  #realRoot: Promise<string> | undefined;
  constructor(root: string) {
    this.#root = root;
  }

  /**
   * The real path of a regular file under the root, or BOOT_FILE_NOT_FOUND / BOOT_FILE_DENIED.
   * Shared with the HTTP face (/boot/NAME), so both confine paths the same way.
   */
  async resolve(path: string): Promise<string> {
    const clean = checkPath(path);
    const root = await (this.#realRoot ??= realpath(this.#root));
    let real: string;
    try {
      real = await realpath(`${root}/${clean}`);
    } catch {
      throw new NetrestoreError('BOOT_FILE_NOT_FOUND', `${clean} not found`);
    }
    if (!real.startsWith(root + sep)) throw new NetrestoreError('BOOT_FILE_DENIED', `${clean} leads outside the boot directory`);
    const st = await stat(real);
    if (!st.isFile()) throw new NetrestoreError('BOOT_FILE_NOT_FOUND', `${clean} is not a file`);
    return real;
  }

  async open(path: string): Promise<OpenFile> {
    const real = await this.resolve(path);
    const st = await stat(real);
    const fh = await open(real, 'r');
    return {
      size: st.size,
      read: async (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
      },
      close: () => fh.close(),
    };
  }
}

/** Generated files: the bytes for a (checked) path, or undefined to fall through to the directory. */
export type VirtualFiles = (path: string, ctx: RequestContext) => Buffer | undefined | Promise<Buffer | undefined>;

/** A fixed set of virtual files by exact name. */
export function virtualMap(files: Map<string, (ctx: RequestContext) => Buffer | Promise<Buffer>>): VirtualFiles {
  return (path, ctx) => files.get(path)?.(ctx);
}

/** Virtual files first, then the fallback provider. */
export class LayeredProvider implements FileProvider {
  readonly #virtual: VirtualFiles;
  readonly #fallback: FileProvider;
  constructor(virtual: VirtualFiles, fallback: FileProvider) {
    this.#virtual = virtual;
    this.#fallback = fallback;
  }

  async open(path: string, ctx: RequestContext): Promise<OpenFile> {
    const made = await this.#virtual(checkPath(path), ctx);
    return made ? memoryFile(made) : this.#fallback.open(path, ctx);
  }
}

/** RFC 1350 netascii: LF → CR LF, CR → CR NUL. */
export function toNetascii(data: Buffer): Buffer {
  const out: number[] = [];
  for (const b of data) {
    if (b === 0x0a) out.push(0x0d, 0x0a);
    else if (b === 0x0d) out.push(0x0d, 0x00);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** Whole-file netascii view (text files are small: boot scripts, configs). */
export async function netasciiFile(f: OpenFile, maxSize = 16 * 1024 * 1024): Promise<OpenFile> {
  if (f.size > maxSize) {
    await f.close();
    throw new NetrestoreError('BOOT_FILE_DENIED', `netascii transfer of a ${f.size}-byte file; use octet mode`);
  }
  const data = await f.read(0, f.size);
  await f.close();
  return memoryFile(toNetascii(data));
}
