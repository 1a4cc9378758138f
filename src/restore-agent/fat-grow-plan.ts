/**
 * Growing a FAT12/16/32 filesystem to fill its (already grown) partition:
 * the pure part. It reads the filesystem through `read` only, checks it,
 * and returns every write the grow needs, in the order they must be made;
 * fat-grow.ts makes them.
 *
 * mkfs.fat sizes the FAT to the clusters it has, so more clusters need a
 * larger FAT, and the FAT can only grow into the data region behind it. The
 * FATs grow by a whole number m of clusters (fats × added sectors), so the
 * data region's start moves by m clusters and every cluster keeps its place
 * on the disk: what was cluster k becomes cluster k − m. Every cluster
 * number is rewritten (FAT entries, directory entries, '.' and '..', the
 * root cluster, FSInfo), and the m clusters the FATs take over are copied
 * first into the new room past the old end, which nothing uses (the FAT32
 * root's first cluster to the new cluster 2, as fatgen103 asks). FAT12/16
 * move their fixed root directory along with the FATs, and may not pass
 * their type's cluster limit (changing the type is not allowed).
 *
 * Anything unexpected (dirty, FAT copies that differ, a chain that loops,
 * leaves the volume or shares clusters, a file whose chain is not its size)
 * is refused before anything is written: a damaged filesystem is never
 * "repaired" here.
 */
import { BAD, MAX_CLUSTERS, fatBytesFor, getEntry, moveEntry, parseBpb, type Bpb, type FatType } from './fat-layout.ts';
import { firstCluster, readChains, readDirectories, refuse, setFirstCluster, type ReadAt } from './fat-walk.ts';

export type { ReadAt };

export interface FatWrite {
  offset: number;
  data: Buffer;
}

export interface FatGrowPlan {
  type: FatType;
  fromBytes: number;
  toBytes: number;
  fromClusters: number;
  toClusters: number;
  /** Clusters in use that the grown FATs take over, copied to the new room first. */
  moved: number;
  /** In this order, each step synced before the next: an interruption before the last leaves the old boot sector, marked dirty. */
  markDirty: FatWrite;
  copies: { from: number; to: number; length: number }[];
  directories: FatWrite[];
  /** The FATs and, on FAT12/16, the root directory at its new place. */
  tables: FatWrite[];
  /** FSInfo, the backup boot sector and its FSInfo. */
  backup: FatWrite[];
  /** The primary boot sector, last: from it on the filesystem is the grown one. */
  boot: FatWrite;
  /** Said to the admin when the filesystem grew less than the partition (FAT12/16 cluster limit). */
  warning?: string;
}

export type FatGrowResult = FatGrowPlan | { none: string };

/** Plan the grow of the FAT filesystem at the start of a partition of `partitionBytes`. */
export async function planFatGrow(read: ReadAt, partitionBytes: number): Promise<FatGrowResult> {
  const head = await read(0, 512);
  const parsed = parseBpb(head);
  if ('reason' in parsed) throw refuse(parsed.reason);
  const b = parsed;
  const bps = b.bytesPerSector;
  const boot = await read(0, bps);
  const t = b.type;
  if (boot[b.stateOffset]! & 1) throw refuse('it is marked dirty (not cleanly unmounted); check it with fsck.fat or chkdsk first');
  if (b.totalSectors * bps > partitionBytes) throw refuse(`it is larger (${b.totalSectors * bps} bytes) than its partition (${partitionBytes})`);

  const fatBytes = b.fatSectors * bps;
  const fat = await read(b.reservedSectors * bps, fatBytes);
  for (let i = 1; i < b.fats; i++) {
    if (!fat.equals(await read((b.reservedSectors + i * b.fatSectors) * bps, fatBytes))) throw refuse(`its FAT copies 1 and ${i + 1} differ`);
  }
  if ((getEntry(fat, t, 0) & 0xff) !== boot[21]) throw refuse('its first FAT entry does not carry the media byte');
  if (t !== 12) {
    const clean = t === 32 ? 0x08000000 : 0x8000;
    const noError = t === 32 ? 0x04000000 : 0x4000;
    const e1 = getEntry(fat, t, 1);
    if (!(e1 & clean)) throw refuse('its FAT says it was not cleanly unmounted; check it with fsck.fat or chkdsk first');
    if (!(e1 & noError)) throw refuse('its FAT records a disk I/O error; check the disk and the filesystem first');
  }

  const chains = readChains(fat, b);
  const dirs = await readDirectories(read, b, chains);

  const grown = newLayout(b, partitionBytes);
  if ('none' in grown) return grown;
  const { fatSectors: newFatSectors, clusters: newClusters, m, totalSectors } = grown;
  const N = b.clusters;

  // The clusters the grown FATs (and a FAT12/16 root directory) take over: old numbers 2 … m+1.
  const moved = new Map<number, number>();
  let dest = N + 2;
  // fatgen103: a tool that moves the FAT32 root should put its first cluster at cluster 2 (old m+2), where
  // repair tools look for it: whatever lies there moves to the new room first (the copies keep this order).
  const newTwo = m + 2;
  if (t === 32 && m > 0 && b.rootCluster <= m + 1 && newTwo <= N + 1 && chains.next[newTwo] !== BAD[t]) {
    if (chains.next[newTwo] !== 0) moved.set(newTwo, dest++);
    moved.set(b.rootCluster, newTwo);
  }
  for (let k = 2; k <= m + 1; k++) {
    const v = chains.next[k]!;
    if (v === 0 || moved.has(k)) continue;
    if (v === BAD[t]) throw refuse(`cluster ${k}, where the grown FAT goes, is marked bad`);
    moved.set(k, dest++);
  }
  const renumber = (k: number) => (moved.get(k) ?? k) - m;
  const byteOf = (k: number) => (b.dataStart + (k - 2) * b.sectorsPerCluster) * bps;
  const clusterBytes = b.sectorsPerCluster * bps;

  const copies: FatGrowPlan['copies'] = [];
  for (const [k, d] of moved) {
    const last = copies.at(-1);
    if (last && last.from + last.length === byteOf(k) && last.to + last.length === byteOf(d)) last.length += clusterBytes;
    else copies.push({ from: byteOf(k), to: byteOf(d), length: clusterBytes });
  }

  // The FAT, renumbered: entries 0 and 1 as they were.
  const newFat = Buffer.alloc(newFatSectors * bps);
  fat.copy(newFat, 0, 0, t === 12 ? 3 : t / 4);
  let used = 0;
  for (let k = 2; k <= N + 1; k++) {
    const v = chains.next[k]!;
    if (v === 0) continue;
    if (v !== BAD[t]) used++;
    moveEntry(newFat, fat, t, renumber(k), k, v >= 2 && v <= N + 1 ? renumber(v) : v);
  }

  const directories: FatWrite[] = [];
  const tables: FatWrite[] = [];
  const newRootStart = (b.reservedSectors + b.fats * newFatSectors) * bps;
  for (let i = 0; i < b.fats; i++) tables.push({ offset: (b.reservedSectors + i * newFatSectors) * bps, data: newFat });
  for (const dir of dirs) {
    for (const at of dir.refs) {
      const c = firstCluster(dir.data, at, t);
      if (c !== 0) setFirstCluster(dir.data, at, t, renumber(c));
    }
    if (dir.clusters.length === 0) tables.push({ offset: newRootStart, data: dir.data });
    else if (m > 0) dir.clusters.forEach((k, i) => directories.push({ offset: byteOf(moved.get(k) ?? k), data: dir.data.subarray(i * clusterBytes, (i + 1) * clusterBytes) }));
  }

  const newBoot = Buffer.from(boot);
  if (t === 32) {
    newBoot.writeUInt32LE(newFatSectors, 36);
    newBoot.writeUInt32LE(renumber(b.rootCluster), 44);
  } else newBoot.writeUInt16LE(newFatSectors, 22);
  const small = t !== 32 && totalSectors < 0x10000;
  newBoot.writeUInt16LE(small ? totalSectors : 0, 19);
  newBoot.writeUInt32LE(small ? 0 : totalSectors, 32);
  const dirty = Buffer.from(boot);
  dirty[b.stateOffset] = dirty[b.stateOffset]! | 1;

  const backup: FatWrite[] = [];
  if (t === 32) {
    let nextFree = 0xffffffff;
    for (let j = 2; j <= newClusters + 1; j++) {
      if (getEntry(newFat, t, j) === 0) {
        nextFree = j;
        break;
      }
    }
    const free = newClusters - used - chains.bad;
    const fsInfo = async (sector: number) => {
      if (sector < 1 || sector >= b.reservedSectors) return;
      const s = await read(sector * bps, bps);
      if (s.readUInt32LE(0) !== 0x41615252 || s.readUInt32LE(484) !== 0x61417272) return;
      s.writeUInt32LE(free, 488);
      s.writeUInt32LE(nextFree, 492);
      backup.push({ offset: sector * bps, data: s });
    };
    await fsInfo(b.fsInfoSector);
    const bk = b.backupBootSector;
    if (bk >= 1 && bk < b.reservedSectors && bk !== 0xffff) {
      backup.push({ offset: bk * bps, data: newBoot });
      await fsInfo(bk + b.fsInfoSector);
    }
  }

  const fsGrew = totalSectors * bps;
  const capped = newClusters === MAX_CLUSTERS[t] ? `the most FAT${t} allows with its ${clusterBytes}-byte clusters (${MAX_CLUSTERS[t]} clusters); the rest of the partition is unused, as changing the FAT type means recreating the filesystem`
    : partitionBytes - fsGrew >= clusterBytes ? `the most a FAT boot sector can count (2^32 − 1 sectors); the rest of the partition is unused` : '';
  return {
    type: t,
    fromBytes: b.totalSectors * bps,
    toBytes: fsGrew,
    fromClusters: N,
    toClusters: newClusters,
    moved: moved.size,
    markDirty: { offset: 0, data: dirty },
    copies,
    directories,
    tables,
    backup,
    boot: { offset: 0, data: newBoot },
    ...(capped ? { warning: `its FAT${t} filesystem grew to ${fsGrew} bytes, ${capped}` } : {}),
  };
}

/** The grown FAT's size, the clusters it covers and the shift m, for a partition of `bytes`; or why it does not grow. */
export function newLayout(b: Bpb, bytes: number): { fatSectors: number; clusters: number; m: number; totalSectors: number } | { none: string } {
  const t = b.type;
  const spc = b.sectorsPerCluster;
  const bps = b.bytesPerSector;
  const T = Math.min(Math.floor(bytes / bps), 0xffffffff);
  const entriesPerSector = t === 12 ? (bps * 2) / 3 : bps / (t / 8);
  // Start from below the answer: S·e ≥ clusters + 2 with clusters ≤ (T − R − RD − F·S)/spc and ≤ the type's limit.
  const fromData = ((T - b.reservedSectors - b.rootDirSectors) / spc + 2) / (entriesPerSector + b.fats / spc);
  const fromLimit = (MAX_CLUSTERS[t] + 2) / entriesPerSector;
  let S = Math.max(b.fatSectors, Math.floor(Math.min(fromData, fromLimit)) - 1);
  for (; ; S++) {
    if ((b.fats * (S - b.fatSectors)) % spc !== 0) continue;
    const dataStart = b.reservedSectors + b.fats * S + b.rootDirSectors;
    if (dataStart >= T) return { none: 'the partition is too small for a larger FAT' };
    const clusters = Math.min(Math.floor((T - dataStart) / spc), MAX_CLUSTERS[t]);
    if (fatBytesFor(t, clusters) > S * bps) continue;
    const m = (b.fats * (S - b.fatSectors)) / spc;
    if (clusters <= b.clusters) {
      return { none: clusters === MAX_CLUSTERS[t] || b.clusters === MAX_CLUSTERS[t] ? `its FAT${t} filesystem already has the most clusters FAT${t} allows (${MAX_CLUSTERS[t]})` : 'the new room is less than the FAT must grow by to use it' };
    }
    const total = clusters === MAX_CLUSTERS[t] ? Math.min(T, dataStart + clusters * spc) : T;
    return { fatSectors: S, clusters, m, totalSectors: total };
  }
}
