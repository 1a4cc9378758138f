/**
 * A summary of a disk's partition table (MBR or GPT, UEFI spec §5) and the
 * filesystem on each partition, read from a few sectors. Pure: the caller
 * hands in the bytes it read.
 */
import type { Partition } from './format.ts';

export interface TableSummary {
  type: 'mbr' | 'gpt' | 'none';
  diskId?: string;
  partitions: Partition[];
}

const MBR_TYPES: Record<number, string> = {
  0x07: 'NTFS/exFAT',
  0x0b: 'FAT32',
  0x0c: 'FAT32 LBA',
  0x0e: 'FAT16 LBA',
  0x27: 'Windows recovery',
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x8e: 'Linux LVM',
  0xee: 'GPT protective',
  0xef: 'EFI system',
  0xfd: 'Linux RAID',
};

const GPT_TYPES: Record<string, string> = {
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b': 'EFI system',
  'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'Microsoft reserved',
  'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'Microsoft basic data',
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'Windows recovery',
  '0fc63daf-8483-4772-8e79-3d69d8477de4': 'Linux filesystem',
  '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f': 'Linux swap',
  'e6d6d379-f507-44c2-a23c-238f2a3df928': 'Linux LVM',
  '21686148-6449-6e6f-744e-656564454649': 'BIOS boot',
};

/** GUIDs are stored mixed-endian: the first three fields little-endian. */
export function guid(b: Buffer, o: number): string {
  const h = (i: number, n: number, le: boolean) => {
    const bytes = [...b.subarray(o + i, o + i + n)];
    return (le ? bytes.reverse() : bytes).map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${h(0, 4, true)}-${h(4, 2, true)}-${h(6, 2, true)}-${h(8, 2, false)}-${h(10, 6, false)}`;
}

/**
 * Parse the table from the disk's first bytes (at least 34 sectors for GPT).
 * Sizes and starts are in bytes.
 */
export function parseTable(head: Buffer, sector: number): TableSummary {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return { type: 'none', partitions: [] };
  const entries = [0, 1, 2, 3].map((i) => {
    const o = 446 + i * 16;
    return { index: i + 1, type: head[o + 4]!, start: head.readUInt32LE(o + 8), count: head.readUInt32LE(o + 12) };
  });
  if (entries.some((e) => e.type === 0xee) && head.length >= sector * 2 + 92 && head.toString('latin1', sector, sector + 8) === 'EFI PART') {
    return parseGpt(head, sector);
  }
  const used = entries.filter((e) => e.type !== 0 && e.count > 0);
  // A FAT or NTFS boot sector also ends in 55 AA: an MBR has sane entries.
  if (used.length === 0 || used.some((e) => e.start === 0)) return { type: 'none', partitions: [] };
  return {
    type: 'mbr',
    diskId: head.readUInt32LE(440).toString(16).padStart(8, '0'),
    partitions: used.map((e) => ({
      index: e.index,
      type: e.type.toString(16).padStart(2, '0'),
      ...(MBR_TYPES[e.type] ? { typeName: MBR_TYPES[e.type] } : {}),
      start: e.start * sector,
      size: e.count * sector,
    })),
  };
}

function parseGpt(head: Buffer, sector: number): TableSummary {
  const h = sector;
  const entriesLba = Number(head.readBigUInt64LE(h + 72));
  const count = head.readUInt32LE(h + 80);
  const entrySize = head.readUInt32LE(h + 84);
  const partitions: Partition[] = [];
  for (let i = 0; i < Math.min(count, 128); i++) {
    const o = entriesLba * sector + i * entrySize;
    if (o + 128 > head.length) break;
    const type = guid(head, o);
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = Number(head.readBigUInt64LE(o + 32));
    const last = Number(head.readBigUInt64LE(o + 40));
    const name = head.toString('utf16le', o + 56, o + 128).replace(/\0.*$/s, '');
    partitions.push({
      index: i + 1,
      type,
      ...(GPT_TYPES[type] ? { typeName: GPT_TYPES[type] } : {}),
      start: first * sector,
      size: (last - first + 1) * sector,
      ...(name ? { name } : {}),
    });
  }
  return { type: 'gpt', diskId: guid(head, h + 56), partitions };
}

/**
 * FAT12, FAT16 or FAT32 from a boot sector's BIOS parameter block, by the
 * count of data clusters as the FAT specification decides it (the type
 * string at 54 or 82 is only a label); undefined when the BPB is not sane.
 */
export function fatType(b: Buffer): 'fat12' | 'fat16' | 'fat32' | undefined {
  if (b.length < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return undefined;
  const bytesPerSector = b.readUInt16LE(11);
  const perCluster = b[13]!;
  const reserved = b.readUInt16LE(14);
  const fats = b[16]!;
  const rootEntries = b.readUInt16LE(17);
  const total = b.readUInt16LE(19) || b.readUInt32LE(32);
  const fatSize = b.readUInt16LE(22) || b.readUInt32LE(36);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || !pow2(perCluster) || reserved === 0 || fats === 0 || fats > 4 || total === 0 || fatSize === 0) return undefined;
  if (b.readUInt16LE(22) === 0) return 'fat32';
  const rootSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const data = total - (reserved + fats * fatSize + rootSectors);
  if (data <= 0) return undefined;
  const clusters = Math.floor(data / perCluster);
  return clusters < 4085 ? 'fat12' : clusters < 65525 ? 'fat16' : 'fat32';
}

/**
 * Name the filesystem from the first 68 KiB of a partition, by its
 * superblock magic: ext2/ext3/ext4, ntfs, fat12/fat16/fat32, exfat, xfs,
 * btrfs, swap, and the containers no filesystem reader looks into: luks,
 * bitlocker, lvm2. Undefined when unknown.
 */
export function detectFilesystem(b: Buffer): string | undefined {
  const at = (o: number, s: string) => b.length >= o + s.length && b.toString('latin1', o, o + s.length) === s;
  // BitLocker's volume header is a boot sector too (with a FAT-like BPB): look for it first.
  if (at(3, '-FVE-FS-')) return 'bitlocker';
  if (at(0, 'LUKS\xba\xbe') || at(0, 'SKUL\xba\xbe')) return 'luks';
  if (at(3, 'NTFS    ')) return 'ntfs';
  if (at(3, 'EXFAT   ')) return 'exfat';
  if (b.length >= 1082 && b.readUInt16LE(1080) === 0xef53) {
    const incompat = b.readUInt32LE(1024 + 0x60);
    const compat = b.readUInt32LE(1024 + 0x5c);
    return incompat & 0x40 ? 'ext4' : compat & 0x4 ? 'ext3' : 'ext2';
  }
  if (at(0, 'XFSB')) return 'xfs';
  if (at(0x10040, '_BHRfS_M')) return 'btrfs';
  // The swap signature ends the first page, whatever the page size.
  for (const page of [4096, 8192, 16384, 65536]) if (at(page - 10, 'SWAPSPACE2')) return 'swap';
  if (at(0x218, 'LVM2 001')) return 'lvm2';
  if (at(82, 'FAT32   ') || at(54, 'FAT16   ') || at(54, 'FAT12   ') || at(54, 'FAT     ')) return fatType(b);
  return undefined;
}
