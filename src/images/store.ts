/**
 * The image store: manifests and content-addressed chunks. `ImageStore` is
 * the small interface a second backend (object storage) would implement;
 * `FileStore` keeps them under one directory:
 *
 *   manifests/NAME.json     chunks/ab/cd/abcd….zst     tmp/
 *
 * Every write goes to tmp/, is fsynced, then renamed into place, so a crash
 * never leaves a half-written chunk or manifest under its real name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { chunkPath, parseManifest, type Manifest } from '../shared/format.ts';
import { isNetrestoreError, NetrestoreError } from '../shared/errors.ts';

export interface ChunkInfo {
  hash: string;
  size: number;
  mtimeMs: number;
}

export interface ImageStore {
  hasChunk(hash: string): Promise<boolean>;
  readChunk(hash: string): Promise<Buffer>;
  /** Read a chunk into `into`: its length, or undefined when it does not fit there. */
  readChunkInto(hash: string, into: Buffer): Promise<number | undefined>;
  /** Store compressed bytes under `hash`; false when it was there already. */
  writeChunk(hash: string, compressed: Buffer): Promise<boolean>;
  deleteChunk(hash: string): Promise<void>;
  listChunks(): AsyncIterable<ChunkInfo>;
  /** A local file for a chunk, where the backend has one (lets HTTP serve Range requests from disk). */
  chunkFile(hash: string): string | undefined;
  listManifests(): Promise<Manifest[]>;
  readManifest(name: string): Promise<Manifest | undefined>;
  /** Publish atomically; refuses to replace an existing image. */
  writeManifest(m: Manifest): Promise<void>;
  deleteManifest(name: string): Promise<boolean>;
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

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export class FileStore implements ImageStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  async init(): Promise<this> {
    for (const d of ['manifests', 'chunks', 'tmp']) await mkdir(join(this.root, d), { recursive: true });
    return this;
  }

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
}
