/**
 * PLACEHOLDER on branch format-v2: the partclone runner is written on another
 * branch, whose src/shared/partclone.ts replaces this file at merge. Until
 * then every partition is kept whole, so images are as large as in v1 but
 * correct. Keep this file to this one function.
 */
import type { TableSummary } from './partitions.ts';
import { wholeUse, type PartitionUse } from './used-areas.ts';

/** What each partition's filesystem uses; `raw` keeps every byte (a forensic copy). */
export async function mapPartitions(diskPath: string, table: TableSummary, o: { raw?: boolean } = {}): Promise<PartitionUse[]> {
  void diskPath;
  return table.partitions.map((p) => wholeUse(p.index, p.filesystem, p.size, o.raw ? 'kept whole: --raw' : 'no used-block map (partclone not wired yet)'));
}
