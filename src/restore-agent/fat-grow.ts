/**
 * Grow the FAT filesystem of a partition that has already grown: the edge of
 * fat-grow-plan.ts. It reads and writes the disk (block device or image file)
 * at the partition's offset, in the plan's order, syncing after each step:
 * the boot sector is marked dirty first and rewritten last, so an
 * interrupted grow is a dirty filesystem that a rerun refuses and a second
 * restore replaces.
 */
import { open } from 'node:fs/promises';
import { planFatGrow, type FatWrite } from './fat-grow-plan.ts';
import type { FatType } from './fat-layout.ts';

export interface FatGrowReport {
  grown: boolean;
  type?: FatType;
  fromBytes?: number;
  toBytes?: number;
  /** Clusters in use copied out of the grown FATs' way. */
  moved?: number;
  /** Why it grew less than the partition, or not at all. */
  warning?: string;
}

const COPY_BYTES = 4 * 1024 * 1024;

/** Grow the FAT filesystem at `offset` of `path` to fill `bytes`; throws GROW_FAILED (nothing written) when it refuses. */
export async function growFat(path: string, offset: number, bytes: number): Promise<FatGrowReport> {
  const fh = await open(path, 'r+');
  try {
    const read = async (at: number, length: number) => {
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset + at);
      if (bytesRead !== length) throw new Error(`short read at ${offset + at}`);
      return b;
    };
    const writeAll = async (ws: FatWrite[]) => {
      for (const w of ws) await fh.write(w.data, 0, w.data.length, offset + w.offset);
      await fh.sync();
    };
    const plan = await planFatGrow(read, bytes);
    if ('none' in plan) return { grown: false, warning: `its FAT filesystem keeps its old size: ${plan.none}` };
    await writeAll([plan.markDirty]);
    for (const c of plan.copies) {
      for (let done = 0; done < c.length; done += COPY_BYTES) {
        const n = Math.min(COPY_BYTES, c.length - done);
        await fh.write(await read(c.from + done, n), 0, n, offset + c.to + done);
      }
    }
    await fh.sync();
    await writeAll(plan.directories);
    await writeAll(plan.tables);
    await writeAll(plan.backup);
    await writeAll([plan.boot]);
    return { grown: true, type: plan.type, fromBytes: plan.fromBytes, toBytes: plan.toBytes, moved: plan.moved, ...(plan.warning ? { warning: plan.warning } : {}) };
  } finally {
    await fh.close();
  }
}
