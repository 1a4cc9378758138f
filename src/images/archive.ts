/**
 * Export and import an image as one tar stream: the manifest first, then its
 * chunks (compressed, as stored). It goes to tape or an offline disk as it
 * is, and comes back checked: every chunk is decompressed and hashed on
 * import, and the image appears only when all of them are in.
 */
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { imageChunks, parseManifest, sha256, type Manifest } from '../shared/format.ts';
import type { ImageStore, Unlock } from './store.ts';
import { decompress } from '../shared/zstd.ts';
import { isNetrestoreError, NetrestoreError } from '../shared/errors.ts';

export async function exportImage(store: ImageStore, m: Manifest, out: Writable): Promise<{ chunks: number; bytes: number }> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const json = Buffer.from(JSON.stringify(m, null, 1) + '\n');
  const add = (header: Partial<tar.Header> & { name: string }, body: Buffer) => new Promise<void>((resolve, reject) => pack.entry(header as tar.Header, body, (err) => (err ? reject(err) : resolve())));
  await add({ name: 'manifest.json', size: json.length, mode: 0o644 }, json);
  let chunks = 0;
  let bytes = json.length;
  for (const h of imageChunks(m)) {
    const chunk = await store.openChunk(h);
    if (!chunk) throw new NetrestoreError('IMAGE_DAMAGED', `image ${m.name}: chunk ${h} is missing from the store; run \`netrestore images verify ${m.name}\``);
    const { size } = chunk;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: `chunks/${h}.zst`, size, mode: 0o644 }, (err) => (err ? reject(err) : resolve()));
      chunk.stream().on('error', reject).pipe(entry);
    });
    chunks++;
    bytes += size;
  }
  pack.finalize();
  await done;
  return { chunks, bytes };
}

async function collect(stream: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const b of stream) {
    n += (b as Buffer).length;
    if (n > limit) throw new NetrestoreError('ARCHIVE_INVALID', `an archive entry is larger than ${limit} bytes`);
    parts.push(b as Buffer);
  }
  return Buffer.concat(parts);
}

/** Chunks are written before the manifest: the store's lock keeps garbage collection away meanwhile. */
export async function importImage(store: ImageStore, input: Readable): Promise<Manifest> {
  const extract = tar.extract();
  let manifest: Manifest | undefined;
  let unlock: Unlock | undefined;
  const got = new Set<string>();
  const reading = pipeline(input, extract).catch((err: Error) => {
    throw new NetrestoreError('ARCHIVE_DAMAGED', `the archive is damaged or truncated (${err.message}): use another copy of the export`, { cause: err });
  });
  // An import that stops early (a damaged chunk) breaks the pipeline too: its own error is the one to report.
  reading.catch(() => {});
  let tarError: Error | undefined;
  extract.once('error', (err: Error) => void (tarError = err));
  try {
    for await (const entry of extract) {
      const name = entry.header.name;
      if (name === 'manifest.json') {
        manifest = parseManifest((await collect(entry, 64 * 1024 * 1024)).toString('utf8'), 'the archive\'s manifest');
        if (await store.readManifest(manifest.name)) throw new NetrestoreError('IMAGE_EXISTS', `an image named ${manifest.name} exists already; remove it first with \`netrestore images rm ${manifest.name}\``);
        unlock = await store.lock(`import-${manifest.name}`);
        continue;
      }
      const m = /^chunks\/([0-9a-f]{64})\.zst$/.exec(name);
      if (!manifest) throw new NetrestoreError('ARCHIVE_INVALID', 'the archive does not start with manifest.json: it is not a netrestore export');
      if (!m) throw new NetrestoreError('ARCHIVE_INVALID', `unexpected entry ${name} in the archive`);
      const packed = await collect(entry, manifest.chunkSize + 1024 * 1024);
      const raw = await decompress(packed, manifest.chunkSize).catch((err: Error) => {
        throw new NetrestoreError('ARCHIVE_DAMAGED', `chunk ${m[1]} in the archive cannot be decompressed (${err.message}): the archive is damaged`);
      });
      if (sha256(raw) !== m[1]) throw new NetrestoreError('ARCHIVE_DAMAGED', `chunk ${m[1]} in the archive failed its checksum: the archive is damaged`);
      await store.writeChunk(m[1]!, packed);
      got.add(m[1]!);
    }
    await reading;
    if (!manifest) throw new NetrestoreError('ARCHIVE_INVALID', 'the archive holds no manifest.json: it is not a netrestore export');
    for (const h of imageChunks(manifest)) {
      if (!got.has(h) && !(await store.hasChunk(h))) throw new NetrestoreError('ARCHIVE_DAMAGED', `the archive lacks chunk ${h} of image ${manifest.name}: it is truncated`);
    }
    await store.writeManifest(manifest);
    return manifest;
  } catch (err) {
    // The tar reader's own failure (a truncated archive) comes out of the loop first, as a bare Error;
    // system errors (ENOSPC …) pass as they are.
    if (isNetrestoreError(err) || (typeof (err as NodeJS.ErrnoException).code === 'string' && err !== tarError)) throw err;
    const why = (err as Error).message;
    if (manifest) throw new NetrestoreError('ARCHIVE_DAMAGED', `the archive of image ${manifest.name} is damaged or truncated (${why}): use another copy of the export`, { cause: err });
    throw new NetrestoreError('ARCHIVE_INVALID', `the input is not a netrestore export, or is cut off before its manifest (${why}): give \`images import\` a file written by \`netrestore images export\``, { cause: err });
  } finally {
    await unlock?.();
  }
}
