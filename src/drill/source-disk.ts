/**
 * An image written out to a raw disk file, for a drill whose VM starts with
 * a disk that boots (the capture drill). Zero chunks stay holes; every chunk
 * is checked against its hash on the way.
 */
import { open } from 'node:fs/promises';
import { chunkSpan, sha256, type Manifest } from '../shared/format.ts';
import { decompress } from '../shared/zstd.ts';
import type { ImageStore } from '../images/store.ts';

export async function writeImageFile(store: ImageStore, m: Manifest, path: string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(m.source.size);
    for (let i = 0; i < m.chunks.length; i++) {
      const h = m.chunks[i];
      if (!h) continue;
      const { offset, length } = chunkSpan(i, m.chunkSize, m.source.size);
      const raw = await decompress(await store.readChunk(h), m.chunkSize);
      if (raw.length !== length || sha256(raw) !== h) throw new Error(`chunk ${i} of ${m.name} (${h}) is damaged in the store: run \`netrestore images verify ${m.name}\``);
      await fh.write(raw, 0, length, offset);
    }
  } finally {
    await fh.close();
  }
}
