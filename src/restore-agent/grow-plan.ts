/**
 * Growing the last partition after a restore onto a larger disk: the pure
 * part. From the image's partition table, the disk sizes and the sector size
 * it decides which partition grows, its new size in sectors, and which
 * filesystem tool grows what it holds — or why nothing is done. grow.ts
 * carries the plan out.
 */

/** What the plan needs of a partition: the manifest's table entries (v1), bytes. */
export interface PlanPartition {
  index: number;
  /** MBR type byte as hex ("83") or GPT type GUID. */
  type: string;
  start: number;
  size: number;
  /** v1 manifests: detected from the superblock ("ext4", "ntfs", "vfat" …). */
  filesystem?: string | undefined;
}

export interface GrowInput {
  table: { type: 'mbr' | 'gpt' | 'none'; partitions: PlanPartition[] };
  /** v2 manifests: per partition, the filesystem type as `fs`; preferred over the table's `filesystem`. */
  uses?: { index: number; fs?: string | undefined }[] | undefined;
  /** The disk the image was taken from, and the disk it was restored onto, in bytes. */
  sourceBytes: number;
  targetBytes: number;
  /** The image's logical sector size and the target's: a table is only valid on disks of its own. */
  sectorSize: number;
  targetSectorSize: number;
  /** GPT: the target's last usable LBA once the backup header is at the end (sfdisk's last-lba); default: a 128-entry array. */
  lastUsableLba?: number | undefined;
}

/** A command of a filesystem step; `{dev}` is the partition's device, `{mnt}` where it is mounted. */
export interface ToolRun {
  argv: string[];
  /** Exit codes that mean success (e2fsck -p: 1 = errors fixed). */
  ok: number[];
  /** Written to its standard input (ntfsresize asks before it writes). */
  input?: string;
}

export interface FsStep {
  /** The filesystem as the image names it, for sentences. */
  fs: string;
  /** Mount the device with this type first (XFS and btrfs grow only while mounted). */
  mount?: 'xfs' | 'btrfs';
  runs: ToolRun[];
  /** Swap: its header's size field is rewritten in place, keeping its UUID and label. */
  swapHeader?: true;
  /** FAT: grown by netrestore's own code (fat-grow.ts), as no tool grows it safely. */
  fatGrow?: true;
  /** How the admin grows it once the restored system runs, should it not grow here (all of these grow while mounted). */
  later: string;
}

export type GrowPlan =
  | { action: 'none'; reason: string }
  | { action: 'refuse'; reason: string }
  | {
      action: 'grow';
      table: 'mbr' | 'gpt';
      index: number;
      /** Sectors of the target's logical sector size. */
      start: number;
      fromSectors: number;
      toSectors: number;
      /** What grows the filesystem; absent when only the partition grows (see `warning`). */
      step?: FsStep;
      /** Said to the admin when the partition grows but its contents do not, or not fully. */
      warning?: string;
    };

const MIB = 1024 * 1024;
/** Less than this much more room is not worth touching the table. */
export const MIN_GROWTH = MIB;
/** MBR entries hold 32-bit sector numbers: nothing ends past 2^32 sectors. */
export const MBR_LIMIT_SECTORS = 2 ** 32;
/** GPT's entry array as sfdisk and every OS write it: 128 entries of 128 bytes. */
const GPT_ENTRY_BYTES = 128 * 128;

const EXTENDED = new Set(['05', '0f', '85']);
/** Partitions that must keep their size: the new room would be lost to them. */
const KEEP_SIZE: Record<string, string> = {
  '27': 'a Windows recovery partition',
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'a Windows recovery partition',
  'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'the Microsoft reserved partition',
  '21686148-6449-6e6f-744e-656564454649': 'a BIOS boot partition',
};

/** The filesystem's family, from the names the detector (v1) and the used-block maps (v2) give. */
export function fsFamily(fs: string | undefined): 'ext' | 'ntfs' | 'xfs' | 'btrfs' | 'fat' | 'exfat' | 'swap' | 'other' | undefined {
  if (!fs) return undefined;
  const f = fs.toLowerCase();
  if (/^ext[234]$/.test(f)) return 'ext';
  if (f === 'ntfs' || f === 'xfs' || f === 'btrfs' || f === 'swap' || f === 'exfat') return f;
  if (f === 'vfat' || f === 'fat' || /^fat(12|16|32)$/.test(f)) return 'fat';
  return 'other';
}

/** The tool that grows a filesystem of `fs` to fill its (already grown) partition, or why none does. */
export function fsStep(fs: string | undefined): { step: FsStep } | { warning: string } {
  const family = fsFamily(fs);
  const name = fs ?? 'an unknown filesystem';
  switch (family) {
    case 'ext':
      // resize2fs wants a freshly checked filesystem; -p repairs only what is safe without asking.
      return { step: { fs: name, runs: [{ argv: ['e2fsck', '-f', '-p', '{dev}'], ok: [0, 1] }, { argv: ['resize2fs', '{dev}'], ok: [0] }], later: 'run `resize2fs` on the partition once the system runs (it grows while mounted)' } };
    case 'ntfs':
      // A read-only run first: it refuses a damaged volume before anything is written.
      return { step: { fs: name, runs: [{ argv: ['ntfsresize', '--no-action', '--force', '{dev}'], ok: [0], input: 'y\n' }, { argv: ['ntfsresize', '--force', '{dev}'], ok: [0], input: 'y\n' }], later: 'extend the volume in Windows Disk Management once Windows runs' } };
    case 'xfs':
      return { step: { fs: name, mount: 'xfs', runs: [{ argv: ['xfs_growfs', '{mnt}'], ok: [0] }], later: 'run `xfs_growfs` on its mount point once the system runs' } };
    case 'btrfs':
      return { step: { fs: name, mount: 'btrfs', runs: [{ argv: ['btrfs', 'filesystem', 'resize', 'max', '{mnt}'], ok: [0] }], later: 'run `btrfs filesystem resize max` on its mount point once the system runs' } };
    case 'swap':
      return { step: { fs: name, runs: [], swapHeader: true, later: 'run `swapoff`, `mkswap` with its UUID and label, and `swapon` once the system runs' } };
    case 'fat':
      // fatresize (libparted) aborts on `-s max` and rewrites the partition entry: our own grower (README's design notes).
      return { step: { fs: name, runs: [], fatGrow: true, later: 'grow it with a partition editor such as GParted from a live system (FAT grows only while unmounted)' } };
    case 'exfat':
      return { warning: `its exFAT filesystem keeps its old size (no tool grows exFAT in place); the partition's new room is unused until the filesystem is grown with a partition editor` };
    default:
      return { warning: `what it holds (${name}) is not grown: netrestore grows ext2/3/4, NTFS, XFS, btrfs and swap; grow it with its own tool (for an LVM physical volume, \`pvresize\`)` };
  }
}

/** The last usable LBA of a GPT disk of `sectors` sectors: the backup entry array and header sit after it. */
export function gptLastUsable(sectors: number, sectorSize: number): number {
  return sectors - 1 - 1 - Math.ceil(GPT_ENTRY_BYTES / sectorSize);
}

const mib = (n: number) => `${Math.floor(n / MIB)} MiB`;

/** Which partition grows to where, and what grows its filesystem; or why nothing is done. */
export function planGrow(i: GrowInput): GrowPlan {
  if (i.targetBytes - i.sourceBytes < MIN_GROWTH) return { action: 'none', reason: 'the disk is the size of the image\'s disk: nothing to grow' };
  if (i.sectorSize !== i.targetSectorSize) {
    return { action: 'refuse', reason: `the image's disk had ${i.sectorSize}-byte sectors and this one has ${i.targetSectorSize}-byte sectors: its partition table does not fit this disk, so nothing is grown` };
  }
  if (i.table.type === 'none') return { action: 'refuse', reason: 'the image has no partition table: there is no last partition to grow' };
  const last = [...i.table.partitions].sort((a, b) => a.start + a.size - (b.start + b.size)).at(-1);
  if (!last) return { action: 'refuse', reason: 'the image\'s partition table has no partitions: nothing to grow' };
  const ss = i.sectorSize;
  if (last.start % ss !== 0 || last.size % ss !== 0) return { action: 'refuse', reason: `partition ${last.index} does not lie on ${ss}-byte sectors: the table is damaged, so nothing is grown` };
  const type = last.type.toLowerCase();
  if (i.table.type === 'mbr' && (EXTENDED.has(type) || last.index > 4)) {
    return { action: 'refuse', reason: `the last partition is a logical one inside an extended partition (${last.index}): netrestore grows only a primary MBR partition; grow the extended and logical partitions with a partition editor` };
  }
  const keep = KEEP_SIZE[type];
  if (keep) return { action: 'refuse', reason: `the last partition (${last.index}) is ${keep}: growing it would give it all the new room; grow the partition before it with the operating system's own tools` };

  const sectors = Math.floor(i.targetBytes / ss);
  let end: number;
  let capped = '';
  if (i.table.type === 'gpt') end = i.lastUsableLba ?? gptLastUsable(sectors, ss);
  else {
    end = Math.min(sectors, MBR_LIMIT_SECTORS) - 1;
    if (sectors > MBR_LIMIT_SECTORS) capped = `; an MBR table cannot address past ${mib(MBR_LIMIT_SECTORS * ss)}, so the rest of the disk stays unused (GPT has no such limit)`;
  }
  const start = last.start / ss;
  const fromSectors = last.size / ss;
  const toSectors = end - start + 1;
  if ((toSectors - fromSectors) * ss < MIN_GROWTH) return { action: 'none', reason: `partition ${last.index} already reaches the end of the disk${capped}` };

  const fs = i.uses?.find((u) => u.index === last.index)?.fs ?? last.filesystem;
  const s = fsStep(fs);
  const warning = ['warning' in s ? `partition ${last.index} grew to ${mib(toSectors * ss)}, but ${s.warning}` : '', capped ? `partition ${last.index} grew to ${mib(toSectors * ss)}${capped}` : ''].filter(Boolean).join('. ');
  return {
    action: 'grow',
    table: i.table.type,
    index: last.index,
    start,
    fromSectors,
    toSectors,
    ...('step' in s ? { step: s.step } : {}),
    ...(warning ? { warning } : {}),
  };
}

/** Put the device and mount point into a tool's command line. */
export function toolArgv(run: ToolRun, dev: string, mnt = ''): string[] {
  return run.argv.map((a) => (a === '{dev}' ? dev : a === '{mnt}' ? mnt : a));
}

/**
 * The swap header (mkswap's, version 1) of a partition: where its size field
 * is and what it becomes for `bytes`. The magic sits at the end of the first
 * page, which tells the page size it was made for.
 */
export function swapResize(firstPages: Buffer, bytes: number): { offset: number; lastPage: number } | { reason: string } {
  for (const page of [4096, 8192, 16384, 65536]) {
    if (firstPages.length < page || firstPages.toString('latin1', page - 10, page) !== 'SWAPSPACE2') continue;
    const version = firstPages.readUInt32LE(1024);
    if (version !== 1) return { reason: `its swap header is version ${version}, not 1` };
    // last_page is the index of the last usable page; the kernel takes the smaller of it and the device.
    return { offset: 1028, lastPage: Math.min(Math.floor(bytes / page) - 1, 0xffffffff) };
  }
  return { reason: 'it holds no swap header netrestore knows (SWAPSPACE2)' };
}
