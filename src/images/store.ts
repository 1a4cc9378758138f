/**
 * The image store: manifests, content-addressed chunks and the locks that
 * keep garbage collection away from chunks whose manifest is not written
 * yet. `ImageStore` is all the rest of the code sees of it, so a second
 * backend (object storage) needs no change elsewhere; only `serve` and the
 * commands construct one. `FileStore` keeps them under one directory:
 *
 *   manifests/NAME.json     chunks/ab/cd/abcd….zst     tmp/ (and PID-WHAT.lock)
 *
 * Every write goes to tmp/, is fsynced, then renamed into place, so a crash
 * never leaves a half-written chunk or manifest under its real name.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { chunkPath, parseManifest, type Manifest } from '../shared/format.ts';
import { isNetrestoreError, NetrestoreError } from '../shared/errors.ts';

export interface ChunkInfo {
  hash: string;
  size: number;
  mtimeMs: number;
}

/** A stored chunk, opened: its compressed size, and its bytes as a stream. */
export interface OpenChunk {
  size: number;
  /** The whole chunk, or the bytes from `start` to `end` inclusive (an HTTP byte range). */
  stream(range?: { start: number; end: number }): Readable;
}

/** Releases a lock taken with `ImageStore.lock`. */
export type Unlock = () => Promise<void>;

export interface ImageStore {
  hasChunk(hash: string): Promise<boolean>;
  readChunk(hash: string): Promise<Buffer>;
  /** Read a chunk into `into`: its length, or undefined when it does not fit there. */
  readChunkInto(hash: string, into: Buffer): Promise<number | undefined>;
  /** A chunk's size and a stream of it (export, HTTP Range and HEAD); undefined when it is not stored. */
  openChunk(hash: string): Promise<OpenChunk | undefined>;
  /** Store compressed bytes under `hash`; false when it was there already. */
  writeChunk(hash: string, compressed: Buffer): Promise<boolean>;
  deleteChunk(hash: string): Promise<void>;
  listChunks(): AsyncIterable<ChunkInfo>;
  listManifests(): Promise<Manifest[]>;
  readManifest(name: string): Promise<Manifest | undefined>;
  /** Publish atomically; refuses to replace an existing image. */
  writeManifest(m: Manifest): Promise<void>;
  deleteManifest(name: string): Promise<boolean>;
  /** Mark chunks being written before their manifest (a publish, an import, uploads): garbage collection waits while any lock is held. */
  lock(what: string): Promise<Unlock>;
  /** The locks held now; a lock of a process that died does not count. */
  locks(): Promise<string[]>;
}

async function durableWrite(tmpDir: string, target: string, data: Buffer | string, exclusive: boolean): Promise<void> {
  const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await mkdir(dirname(target), { recursive: true });
  if (exclusive && (await exists(target))) {
    await unlink(tmp);
    throw new NetrestoreError('IMAGE_EXISTS', `${target} exists`);
  }
  await rename(tmp, target);
  // The rename itself must survive a power cut: sync the directory that holds it.
  const dir = await open(dirname(target), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

const MINIMAL_PREFIX = 'minimal-';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileStore implements ImageStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  async init(): Promise<this> {
    for (const d of ['manifests', 'chunks', 'tmp']) await mkdir(join(this.root, d), { recursive: true });
    await this.removeStaleCopies();
    return this;
  }

  /** Where a publish makes the minimal form's copy of a disk: tmp/, named after its process, so that a crash's leftover is known. */
  minimalCopyPath(name: string): string {
    return join(this.root, 'tmp', `${MINIMAL_PREFIX}${process.pid}-${name}-${randomBytes(4).toString('hex')}.img`);
  }

  /**
   * Minimal-form copies (as large as the disk) that a publish killed
   * mid-shrink left in tmp/: those of a process that no longer runs.
   * Returns the files removed.
   */
  async removeStaleCopies(): Promise<string[]> {
    const removed: string[] = [];
    const files = await readdir(join(this.root, 'tmp')).catch(() => [] as string[]);
    let anyLock: boolean | undefined;
    for (const f of files) {
      if (!f.startsWith(MINIMAL_PREFIX) || !f.endsWith('.img')) continue;
      const pid = /^minimal-(\d+)-/.exec(f)?.[1];
      // A copy named without its process (older versions): stale unless a publish holds a lock now.
      const stale = pid !== undefined ? !alive(Number(pid)) : !(anyLock ??= (await this.locks()).length > 0);
      if (!stale) continue;
      await rm(join(this.root, 'tmp', f), { force: true });
      removed.push(f);
    }
    return removed;
  }

  /** Where a chunk's file is (this backend's own business: tests that damage a chunk use it). */
  chunkFile(hash: string): string {
    return join(this.root, chunkPath(hash));
  }

  hasChunk(hash: string): Promise<boolean> {
    return exists(this.chunkFile(hash));
  }

  async readChunk(hash: string): Promise<Buffer> {
    try {
      return await readFile(this.chunkFile(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NetrestoreError('IMAGE_DAMAGED', `chunk ${hash} is missing from the store: run \`netrestore images verify\` to see which images need it`);
      throw err;
    }
  }

  async readChunkInto(hash: string, into: Buffer): Promise<number | undefined> {
    let fh;
    try {
      fh = await open(this.chunkFile(hash), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NetrestoreError('IMAGE_DAMAGED', `chunk ${hash} is missing from the store: run \`netrestore images verify\` to see which images need it`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size > into.length) return undefined;
      for (let done = 0; done < size; ) {
        const { bytesRead } = await fh.read(into, done, size - done, done);
        if (bytesRead === 0) throw new NetrestoreError('IMAGE_DAMAGED', `chunk ${hash} shrank while it was read: is something else writing the store?`);
        done += bytesRead;
      }
      return size;
    } finally {
      await fh.close();
    }
  }

  async openChunk(hash: string): Promise<OpenChunk | undefined> {
    const file = this.chunkFile(hash);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return { size: st.size, stream: (range) => createReadStream(file, range ?? {}) };
  }

  async writeChunk(hash: string, compressed: Buffer): Promise<boolean> {
    const target = this.chunkFile(hash);
    if (await exists(target)) return false;
    await durableWrite(join(this.root, 'tmp'), target, compressed, false);
    return true;
  }

  async deleteChunk(hash: string): Promise<void> {
    await rm(this.chunkFile(hash), { force: true });
  }

  async *listChunks(): AsyncIterable<ChunkInfo> {
    const base = join(this.root, 'chunks');
    for (const a of await readdir(base).catch(() => [])) {
      for (const b of await readdir(join(base, a)).catch(() => [])) {
        for (const f of await readdir(join(base, a, b)).catch(() => [])) {
          const m = /^([0-9a-f]{64})\.zst$/.exec(f);
          if (!m) continue;
          const st = await stat(join(base, a, b, f)).catch(() => undefined);
          if (st) yield { hash: m[1]!, size: st.size, mtimeMs: st.mtimeMs };
        }
      }
    }
  }

  #manifestFile(name: string): string {
    return join(this.root, 'manifests', `${name}.json`);
  }

  async listManifests(): Promise<Manifest[]> {
    const names = (await readdir(join(this.root, 'manifests')).catch(() => [])).filter((f) => f.endsWith('.json'));
    const out: Manifest[] = [];
    for (const f of names.sort()) {
      const m = await this.readManifest(f.slice(0, -5));
      if (m) out.push(m);
    }
    return out;
  }

  async readManifest(name: string): Promise<Manifest | undefined> {
    let text: string;
    try {
      text = await readFile(this.#manifestFile(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseManifest(text, `the manifest of image ${name}`);
  }

  async writeManifest(m: Manifest): Promise<void> {
    try {
      await durableWrite(join(this.root, 'tmp'), this.#manifestFile(m.name), JSON.stringify(m, null, 1) + '\n', true);
    } catch (err) {
      if (isNetrestoreError(err, 'IMAGE_EXISTS')) throw new NetrestoreError('IMAGE_EXISTS', `an image named ${m.name} exists already; choose another name or remove it with \`netrestore images rm ${m.name}\``);
      throw err;
    }
  }

  async deleteManifest(name: string): Promise<boolean> {
    const f = this.#manifestFile(name);
    if (!(await exists(f))) return false;
    await unlink(f);
    return true;
  }

  // A lock is a file in tmp/ holding the PID of its process: one that died
  // (killed, power cut) leaves a file that no longer counts.
  async lock(what: string): Promise<Unlock> {
    const file = join(this.root, 'tmp', `${process.pid}-${what.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`);
    await writeFile(file, String(process.pid));
    return () => rm(file, { force: true });
  }

  async locks(): Promise<string[]> {
    const out: string[] = [];
    for (const f of await readdir(join(this.root, 'tmp')).catch(() => [])) {
      if (!f.endsWith('.lock')) continue;
      const pid = Number(await readFile(join(this.root, 'tmp', f), 'utf8').catch(() => 'NaN'));
      if (Number.isInteger(pid) && alive(pid)) out.push(f);
    }
    return out;
  }
}
