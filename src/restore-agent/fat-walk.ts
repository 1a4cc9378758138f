/**
 * A FAT filesystem's chains and directories, read and checked before a grow
 * rewrites them (fat-grow-plan.ts): every FAT entry in range, no cluster in
 * two chains, no loop, every directory entry at the start of a chain of its
 * own, '.' and '..' where they belong, every file as long as its chain.
 * Anything else is refused: a damaged filesystem is never "repaired" here.
 */
import { NetrestoreError } from '../shared/errors.ts';
import { BAD, EOC, getEntry, type Bpb, type FatType } from './fat-layout.ts';

/** Reads `length` bytes at `offset` from the partition's start. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export const refuse = (why: string) => new NetrestoreError('GROW_FAILED', `the FAT filesystem was left as it was, nothing written: ${why}`);

/** A directory read whole: its clusters (old numbers; none for the FAT12/16 root) and bytes. */
export interface Dir {
  clusters: number[];
  data: Buffer;
  /** Byte offsets in `data` of the entries that hold a cluster number. */
  refs: number[];
}

/** The FAT as links. */
export interface Chains {
  /** Each cluster's FAT entry (0 free, BAD, EOC and up: the end of its chain). */
  next: Uint32Array;
  /** The first clusters of all chains. */
  heads: Set<number>;
  /** Clusters in the chain that starts at `head`. */
  length: (head: number) => number;
  /** Clusters marked bad. */
  bad: number;
}

/** The FAT as links, checked: every entry in range, no cluster reached twice, no loop. */
export function readChains(fat: Buffer, b: Bpb): Chains {
  const t = b.type;
  const N = b.clusters;
  const next = new Uint32Array(N + 2);
  const into = new Uint8Array(N + 2);
  let inUse = 0;
  let bad = 0;
  for (let k = 2; k <= N + 1; k++) {
    const v = getEntry(fat, t, k);
    next[k] = v;
    if (v === 0) continue;
    if (v === BAD[t]) {
      bad++;
      continue;
    }
    inUse++;
    if (v >= EOC[t]) continue;
    if (v < 2 || v > N + 1) throw refuse(`its FAT entry for cluster ${k} points to ${v}, outside its ${N} clusters`);
    if (into[v]) throw refuse(`cluster ${v} is in two chains (cross-linked)`);
    into[v] = 1;
  }
  const heads = new Set<number>();
  const lengths = new Map<number, number>();
  let reached = 0;
  for (let k = 2; k <= N + 1; k++) {
    const v = next[k]!;
    if (v === 0 || v === BAD[t] || into[k]) continue;
    heads.add(k);
    let n = 1;
    for (let c = k; next[c]! < EOC[t]; c = next[c]!) {
      if (next[next[c]!] === 0 || next[next[c]!] === BAD[t]) throw refuse(`cluster ${c}'s chain continues into cluster ${next[c]}, which is free or bad`);
      n++;
    }
    lengths.set(k, n);
    reached += n;
  }
  // Every cluster in use belongs to exactly one chain from a head; what is left over lies on a loop.
  if (reached !== inUse) throw refuse(`${inUse - reached} of its clusters in use form a loop`);
  return { next, heads, length: (h) => lengths.get(h) ?? 0, bad };
}

const DOT = Buffer.from('.          ', 'latin1');
const DOTDOT = Buffer.from('..         ', 'latin1');

export function firstCluster(d: Buffer, at: number, t: FatType): number {
  return (t === 32 ? d.readUInt16LE(at + 20) << 16 : 0) + d.readUInt16LE(at + 26);
}

export function setFirstCluster(d: Buffer, at: number, t: FatType, c: number): void {
  if (t === 32) d.writeUInt16LE(c >>> 16, at + 20);
  d.writeUInt16LE(c & 0xffff, at + 26);
}

/** Every directory from the root down, checked against the FAT: each chain owned once, files as long as their chains. */
export async function readDirectories(read: ReadAt, b: Bpb, chains: Chains): Promise<Dir[]> {
  const t = b.type;
  const bps = b.bytesPerSector;
  const clusterBytes = b.sectorsPerCluster * bps;
  const owned = new Set<number>();
  const own = (c: number, what: string) => {
    if (!chains.heads.has(c)) throw refuse(`${what} starts at cluster ${c}, which is not the start of a chain in use`);
    if (owned.has(c)) throw refuse(`${what} starts at cluster ${c}, which another entry owns too (cross-linked)`);
    owned.add(c);
  };
  const readChain = async (head: number): Promise<{ clusters: number[]; data: Buffer }> => {
    const clusters: number[] = [];
    for (let c = head; ; c = chains.next[c]!) {
      clusters.push(c);
      if (chains.next[c]! >= EOC[t]) break;
    }
    const parts = await Promise.all(clusters.map((c) => read((b.dataStart + (c - 2) * b.sectorsPerCluster) * bps, clusterBytes)));
    return { clusters, data: Buffer.concat(parts) };
  };

  const dirs: Dir[] = [];
  // [directory's first cluster (0: the root), its parent's, its path]
  const todo: [number, number, string][] = [[0, 0, '/']];
  if (t === 32) own(b.rootCluster, 'the root directory');
  while (todo.length) {
    const [self, parent, path] = todo.pop()!;
    const whole = self !== 0 ? await readChain(self) : t === 32 ? await readChain(b.rootCluster) : { clusters: [], data: await read((b.reservedSectors + b.fats * b.fatSectors) * bps, b.rootDirSectors * bps) };
    const dir: Dir = { ...whole, refs: [] };
    const d = dir.data;
    // The FAT12/16 root is read in whole sectors (it moves as they are) but holds only rootEntries entries.
    const end = self === 0 && t !== 32 ? b.rootEntries * 32 : d.length;
    for (let at = 0; at + 32 <= end; at += 32) {
      if (d[at] === 0) break;
      if (d[at] === 0xe5) continue;
      const attr = d[at + 11]!;
      if ((attr & 0x3f) === 0x0f) continue; // a long-name part
      const c = firstCluster(d, at, t);
      const name = d.subarray(at, at + 11);
      if (attr & 0x08) {
        if (c !== 0) throw refuse(`the volume label entry in ${path} points to cluster ${c}`);
        continue;
      }
      const ext = name.toString('latin1', 8, 11).trimEnd();
      const shown = `${path}${name.toString('latin1', 0, 8).trimEnd()}${ext ? `.${ext}` : ''}`;
      if (name.equals(DOT) || name.equals(DOTDOT)) {
        const want = name.equals(DOT) ? self : parent;
        // '..' of a directory in the root is 0; some writers put the FAT32 root's cluster there.
        const ok = c === want || (name.equals(DOTDOT) && parent === 0 && t === 32 && c === b.rootCluster);
        if (self === 0 || !ok) throw refuse(`the '${name.toString('latin1').trim()}' entry of ${path} points to cluster ${c}, not ${want}`);
        if (c !== 0) dir.refs.push(at);
        continue;
      }
      if (attr & 0x10) {
        if (c === 0) throw refuse(`directory ${shown} has no cluster`);
        own(c, `directory ${shown}`);
        dir.refs.push(at);
        todo.push([c, self, `${shown}/`]);
        continue;
      }
      const size = d.readUInt32LE(at + 28);
      if (c === 0) {
        if (size !== 0) throw refuse(`file ${shown} has ${size} bytes and no cluster`);
        continue;
      }
      own(c, `file ${shown}`);
      const want = Math.ceil(size / clusterBytes);
      if (chains.length(c) !== want) throw refuse(`file ${shown} has ${size} bytes but a chain of ${chains.length(c)} clusters`);
      dir.refs.push(at);
    }
    dirs.push(dir);
  }
  return dirs;
}
