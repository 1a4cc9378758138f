/**
 * A second `ImageStore`, in memory: no files, no paths. That publish, verify,
 * export/import, garbage collection and the HTTP API run on it shows that
 * nothing outside `serve` and the commands needs `FileStore`.
 */
import { Readable } from 'node:stream';
import { parseManifest, type Manifest } from '../../src/shared/format.ts';
import { NetrestoreError } from '../../src/shared/errors.ts';
import { type ChunkInfo, type ImageStore, type OpenChunk, type Unlock } from '../../src/images/store.ts';

export class MemoryStore implements ImageStore {
  /** Compressed chunks by hash; a test may damage one here. */
  readonly chunks = new Map<string, { data: Buffer; mtimeMs: number }>();
  /** Manifests as JSON text, so no caller ever shares an object with the store. */
  readonly #manifests = new Map<string, string>();
  readonly #locks = new Set<string>();
  #nextLock = 0;

  #chunk(hash: string): Buffer {
    const c = this.chunks.get(hash);
    if (!c) throw new NetrestoreError('IMAGE_DAMAGED', `chunk ${hash} is missing from the store`);
    return c.data;
  }

  async hasChunk(hash: string): Promise<boolean> {
    return this.chunks.has(hash);
  }

  async readChunk(hash: string): Promise<Buffer> {
    return Buffer.from(this.#chunk(hash));
  }

  async readChunkInto(hash: string, into: Buffer): Promise<number | undefined> {
    const data = this.#chunk(hash);
    if (data.length > into.length) return undefined;
    return data.copy(into);
  }

  async openChunk(hash: string): Promise<OpenChunk | undefined> {
    const c = this.chunks.get(hash);
    if (!c) return undefined;
    return {
      size: c.data.length,
      stream: (range) => {
        const s = new Readable({ read() {} });
        s.push(range ? c.data.subarray(range.start, range.end + 1) : c.data);
        s.push(null);
        return s;
      },
    };
  }

  async writeChunk(hash: string, compressed: Buffer): Promise<boolean> {
    if (this.chunks.has(hash)) return false;
    this.chunks.set(hash, { data: Buffer.from(compressed), mtimeMs: Date.now() });
    return true;
  }

  async deleteChunk(hash: string): Promise<void> {
    this.chunks.delete(hash);
  }

  async *listChunks(): AsyncIterable<ChunkInfo> {
    for (const [hash, c] of [...this.chunks]) yield { hash, size: c.data.length, mtimeMs: c.mtimeMs };
  }

  async listManifests(): Promise<Manifest[]> {
    return [...this.#manifests.keys()].sort().map((name) => parseManifest(this.#manifests.get(name)!, `the manifest of image ${name}`));
  }

  async readManifest(name: string): Promise<Manifest | undefined> {
    const text = this.#manifests.get(name);
    return text === undefined ? undefined : parseManifest(text, `the manifest of image ${name}`);
  }

  async writeManifest(m: Manifest): Promise<void> {
    if (this.#manifests.has(m.name)) throw new NetrestoreError('IMAGE_EXISTS', `an image named ${m.name} exists already; choose another name or remove it with \`netrestore images rm ${m.name}\``);
    this.#manifests.set(m.name, JSON.stringify(m));
  }

  async deleteManifest(name: string): Promise<boolean> {
    return this.#manifests.delete(name);
  }

  async lock(what: string): Promise<Unlock> {
    const key = `${what}#${this.#nextLock++}`;
    this.#locks.add(key);
    return async () => void this.#locks.delete(key);
  }

  async locks(): Promise<string[]> {
    return [...this.#locks];
  }
}
