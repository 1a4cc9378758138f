/**
 * FAT12/16/32 on-disk layout, as Microsoft's FAT specification (fatgen103)
 * defines it: the boot sector's BPB, where the FATs, the FAT12/16 root
 * directory and the data region lie, and the FAT's entries packed 12, 16 or
 * 32 bits wide. Pure: bytes in, plain objects out. fat-grow-plan.ts grows it.
 */

export type FatType = 12 | 16 | 32;

export interface Bpb {
  type: FatType;
  bytesPerSector: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  fats: number;
  /** FAT12/16: entries of the fixed root directory; FAT32: 0. */
  rootEntries: number;
  totalSectors: number;
  /** Sectors of one FAT. */
  fatSectors: number;
  /** FAT32: the root directory's first cluster. */
  rootCluster: number;
  /** FAT32: FSInfo's and the backup boot sector's sector numbers (0 or 0xffff: none). */
  fsInfoSector: number;
  backupBootSector: number;
  /** Sectors of the FAT12/16 root directory (0 on FAT32). */
  rootDirSectors: number;
  /** First sector of cluster 2. */
  dataStart: number;
  /** Clusters of the data region: cluster numbers run from 2 to clusters + 1. */
  clusters: number;
  /** Byte of the boot sector whose bit 0 says "not cleanly unmounted" (Linux, Windows). */
  stateOffset: number;
  volumeId: number;
  label: string;
}

/** The most clusters each type may have (fatgen103: the type follows from the count alone). */
export const MAX_CLUSTERS: Record<FatType, number> = { 12: 4084, 16: 65524, 32: 0x0ffffff5 };
/** Entry values from here on end a chain; one less marks a bad cluster. */
export const EOC: Record<FatType, number> = { 12: 0xff8, 16: 0xfff8, 32: 0x0ffffff8 };
export const BAD: Record<FatType, number> = { 12: 0xff7, 16: 0xfff7, 32: 0x0ffffff7 };

const pow2 = (n: number, lo: number, hi: number) => n >= lo && n <= hi && (n & (n - 1)) === 0;

/** The boot sector's BPB, or why it is not one this code trusts. */
export function parseBpb(b: Buffer): Bpb | { reason: string } {
  if (b.length < 512 || b.readUInt16LE(510) !== 0xaa55) return { reason: 'its boot sector has no 55 AA signature' };
  const bytesPerSector = b.readUInt16LE(11);
  const sectorsPerCluster = b[13]!;
  const reservedSectors = b.readUInt16LE(14);
  const fats = b[16]!;
  const rootEntries = b.readUInt16LE(17);
  const total16 = b.readUInt16LE(19);
  const fat16Size = b.readUInt16LE(22);
  const totalSectors = total16 || b.readUInt32LE(32);
  if (!pow2(bytesPerSector, 512, 4096)) return { reason: `its boot sector says ${bytesPerSector}-byte sectors` };
  if (!pow2(sectorsPerCluster, 1, 128) || bytesPerSector * sectorsPerCluster > 65536) return { reason: `its boot sector says ${sectorsPerCluster} sectors per cluster` };
  if (reservedSectors < 1 || fats < 1 || fats > 4 || totalSectors === 0) return { reason: 'its boot sector has no reserved sectors, FATs or size' };
  const fatSectors = fat16Size || b.readUInt32LE(36);
  if (fatSectors === 0) return { reason: 'its boot sector gives the FAT no size' };
  const rootDirSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const dataStart = reservedSectors + fats * fatSectors + rootDirSectors;
  if (dataStart >= totalSectors) return { reason: 'its boot sector puts the data region past the end of the filesystem' };
  const clusters = Math.floor((totalSectors - dataStart) / sectorsPerCluster);
  const type: FatType = clusters <= MAX_CLUSTERS[12] ? 12 : clusters <= MAX_CLUSTERS[16] ? 16 : 32;
  // The type follows from the cluster count (fatgen103); Linux goes by the FAT size field instead: both must agree.
  if (fat16Size === 0 && type !== 32) return { reason: `its boot sector has FAT32 fields but only ${clusters} clusters (FAT32 has at least ${MAX_CLUSTERS[16] + 1})` };
  if (fat16Size !== 0 && type === 32) return { reason: `its boot sector has FAT12/16 fields but ${clusters} clusters (FAT16 has at most ${MAX_CLUSTERS[16]})` };
  if (type === 32 && rootEntries !== 0) return { reason: 'its FAT32 boot sector gives a fixed root directory' };
  if (type !== 32 && rootEntries === 0) return { reason: 'its boot sector gives no root directory' };
  const entryBytes = type === 12 ? 1.5 : type / 8;
  if ((clusters + 2) * entryBytes > fatSectors * bytesPerSector) return { reason: `its FAT has room for fewer entries than its ${clusters} clusters` };
  const ext = type === 32 ? 28 : 0;
  const bpb: Bpb = {
    type,
    bytesPerSector,
    sectorsPerCluster,
    reservedSectors,
    fats,
    rootEntries,
    totalSectors,
    fatSectors,
    rootCluster: type === 32 ? b.readUInt32LE(44) : 0,
    fsInfoSector: type === 32 ? b.readUInt16LE(48) : 0,
    backupBootSector: type === 32 ? b.readUInt16LE(50) : 0,
    rootDirSectors,
    dataStart,
    clusters,
    stateOffset: 37 + ext,
    volumeId: b[38 + ext] === 0x29 ? b.readUInt32LE(39 + ext) : 0,
    label: b[38 + ext] === 0x29 ? b.toString('latin1', 43 + ext, 54 + ext).trimEnd() : '',
  };
  if (type === 32) {
    if (b.readUInt16LE(42) !== 0) return { reason: `its FAT32 version is ${b.readUInt16LE(42)}, not 0` };
    // Bit 7: only one FAT is active and the others are not mirrors; nothing we make or expect.
    if (b.readUInt16LE(40) & 0x80) return { reason: 'its FAT32 keeps only one active FAT (mirroring off)' };
    if (bpb.rootCluster < 2 || bpb.rootCluster > clusters + 1) return { reason: `its root directory cluster ${bpb.rootCluster} is out of range` };
  }
  return bpb;
}

/** Bytes one FAT needs for `clusters` clusters (entries 0 and 1 are reserved). */
export function fatBytesFor(type: FatType, clusters: number): number {
  return type === 12 ? Math.ceil(((clusters + 2) * 3) / 2) : (clusters + 2) * (type / 8);
}

/** Entry `n` of a FAT held in `fat`. */
export function getEntry(fat: Buffer, type: FatType, n: number): number {
  if (type === 32) return fat.readUInt32LE(n * 4) & 0x0fffffff;
  if (type === 16) return fat.readUInt16LE(n * 2);
  const v = fat.readUInt16LE(Math.floor((n * 3) / 2));
  return n & 1 ? v >> 4 : v & 0xfff;
}

/** Set entry `n`; FAT32's top 4 bits are reserved and are kept as they were in `fat`. */
export function setEntry(fat: Buffer, type: FatType, n: number, value: number): void {
  if (type === 32) {
    const at = n * 4;
    fat.writeUInt32LE(((fat.readUInt32LE(at) & 0xf0000000) | (value & 0x0fffffff)) >>> 0, at);
  } else if (type === 16) fat.writeUInt16LE(value & 0xffff, n * 2);
  else {
    const at = Math.floor((n * 3) / 2);
    const v = fat.readUInt16LE(at);
    fat.writeUInt16LE(n & 1 ? (v & 0x000f) | ((value & 0xfff) << 4) : (v & 0xf000) | (value & 0xfff), at);
  }
}

/** Entry `n` of `to` becomes `value`, with FAT32's reserved top 4 bits copied from entry `from` of `old` (fatgen103: kept as found). */
export function moveEntry(to: Buffer, old: Buffer, type: FatType, n: number, from: number, value: number): void {
  if (type === 32) to.writeUInt32LE(((old.readUInt32LE(from * 4) & 0xf0000000) | (value & 0x0fffffff)) >>> 0, n * 4);
  else setEntry(to, type, n, value);
}
