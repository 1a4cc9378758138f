/**
 * Does the disk hold the image? Chunk by chunk against the manifest, so that
 * a mismatch names the first chunk (and so the offset) that differs.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { isZero, sha256, type Manifest } from '../shared/format.ts';

export async function compareDisk(path: string, m: Manifest): Promise<{ ok: boolean; badChunks: number[]; sha256: string }> {
  const fh = await open(path, 'r');
  const whole = createHash('sha256');
  const badChunks: number[] = [];
  try {
    const buf = Buffer.alloc(m.chunkSize);
    for (let i = 0; i < m.chunks.length; i++) {
      const len = Math.min(m.chunkSize, m.source.size - i * m.chunkSize);
      const { bytesRead } = await fh.read(buf, 0, len, i * m.chunkSize);
      const data = buf.subarray(0, len);
      if (bytesRead < len) data.fill(0, bytesRead);
      whole.update(data);
      const want = m.chunks[i];
      if (want === null ? !isZero(data) : sha256(data) !== want) badChunks.push(i);
    }
  } finally {
    await fh.close();
  }
  const digest = whole.digest('hex');
  return { ok: badChunks.length === 0 && digest === m.sha256, badChunks, sha256: digest };
}
