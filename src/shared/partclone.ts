/**
 * Which blocks each partition's filesystem uses, read by partclone (`-D`
 * writes a ddrescue domain map of the used areas without copying data).
 * Runs on the server for `publish` and in the restore environment for
 * `capture`. Whatever cannot be mapped with confidence — an unknown type, a
 * container (LVM, LUKS, BitLocker), a damaged filesystem, a missing tool — is
 * kept whole with a sentence that says why: one partition's trouble never
 * fails the image.
 */
import { execa } from 'execa';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionNode } from './partition-node.ts';
import { attachRangeLoop } from './range-loop.ts';
import type { TableSummary } from './partitions.ts';
import { mappedUse, parseDomainMap, wholeUse, type Extent, type PartitionUse } from './used-areas.ts';

/** The outcome of one command: never throws for a non-zero exit; a missing program is exit code 127. */
export type Run = (cmd: string, args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface MapOptions {
  /** Keep every byte of every partition (a forensic copy). */
  raw?: boolean;
  /** Where partclone's map and log go; default the system's temporary directory. */
  tmpDir?: string;
  /** Runs partclone and losetup; tests inject their own. */
  run?: Run;
  log?: (line: string) => void;
  /** The source's format as qemu-img names it, when the caller knows it; else read from its first bytes. */
  format?: string;
}

/** The partclone program for each filesystem the detector names. */
const TOOLS: Record<string, string> = {
  ext2: 'partclone.extfs',
  ext3: 'partclone.extfs',
  ext4: 'partclone.extfs',
  ntfs: 'partclone.ntfs',
  fat12: 'partclone.fat',
  fat16: 'partclone.fat',
  fat32: 'partclone.fat',
  exfat: 'partclone.exfat',
  xfs: 'partclone.xfs',
  btrfs: 'partclone.btrfs',
};

/** Why a type is kept whole without asking partclone. */
const CONTAINERS: Record<string, string> = {
  lvm2: 'an LVM physical volume: its logical volumes are not mapped, every byte kept',
  luks: 'LUKS-encrypted: free blocks cannot be told from used ones, every byte kept',
  bitlocker: 'BitLocker-encrypted: free blocks cannot be told from used ones, every byte kept',
};

export function partcloneTool(fs: string | undefined): string | undefined {
  return fs ? TOOLS[fs] : undefined;
}

/** The arguments for a used-block map: `-f 0` skips the progress thread's two-second sleep, `-q` its messages. */
export function partcloneArgs(source: string, mapFile: string, logFile: string): string[] {
  return ['-D', '-q', '-f', '0', '-s', source, '-O', mapFile, '-L', logFile];
}

/** Every data line of a domain map (any status), in order: coverage is checked on these. */
export function domainMapLines(text: string): { start: number; length: number; status: string }[] {
  const out: { start: number; length: number; status: string }[] = [];
  for (const raw of text.split('\n')) {
    const f = raw.trim().split(/\s+/);
    if (f.length < 3 || f[0]!.startsWith('#') || !/^0x[0-9a-f]+$/i.test(f[0]!) || !/^0x[0-9a-f]+$/i.test(f[1]!)) continue;
    out.push({ start: Number.parseInt(f[0]!, 16), length: Number.parseInt(f[1]!, 16), status: f[2]! });
  }
  return out;
}

/**
 * A domain map judged against the partition it claims to describe: the used
 * extents, or why the map is not to be trusted. The map must cover the
 * filesystem from byte 0 without gaps or overlaps, end inside the partition
 * and name some used bytes; bytes after the filesystem's end (up to the
 * partition's end) are kept as used.
 */
export function judgeDomainMap(text: string, partitionSize: number): { used: Extent[] } | { reason: string } {
  const lines = domainMapLines(text);
  if (lines.length === 0) return { reason: 'partclone wrote an empty map' };
  let at = 0;
  for (const l of lines) {
    if (l.start !== at) return { reason: `partclone's map has a gap or overlap at byte ${at}` };
    at = l.start + l.length;
  }
  if (at > partitionSize) return { reason: `the filesystem claims ${at} bytes but the partition holds ${partitionSize}: it does not fit its partition` };
  const used = parseDomainMap(text);
  const usedBytes = used.reduce((n, e) => n + e.length, 0);
  if (usedBytes === 0) return { reason: 'partclone found no used block, not even the superblock' };
  if (at < partitionSize) used.push({ start: at, length: partitionSize - at });
  return { used };
}

/** The line partclone wrote that says what went wrong: its log first (its stderr mostly says "see the log"). */
export function partcloneComplaint(stderr: string, log: string): string {
  const clean = (t: string) =>
    t
      .split(/[\r\n]+/)
      .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/^.*Please wait\.\.\.\s*/, '').trim())
      .filter((l) => l && !/^(Partclone v|Starting to|memory needed|bitmap \d|Elapsed|Total Time|current block|File system:|Device size|Space in use|Free Space|Block size|done!|Syncing)|please check/i.test(l));
  const bad = (lines: string[]) => lines.filter((l) => /error|fail|invalid|corrupt|bad|not |n't|cannot|unable|mismatch|dirty|unclean/i.test(l)).at(-1);
  const fromLog = clean(log);
  const fromErr = clean(stderr);
  return (bad(fromLog) ?? bad(fromErr) ?? fromLog.at(-1) ?? fromErr.at(-1) ?? 'no message').slice(0, 200);
}

const defaultRun: Run = async (cmd, args) => {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  const missing = (r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message ?? ''));
  return { exitCode: missing ? 127 : (r.exitCode ?? 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

/** qemu-img's name for a virtual disk file, from its magic; undefined for raw. */
async function virtualFormat(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const b = Buffer.alloc(512);
    await fh.read(b, 0, 512, 0);
    const s = b.toString('latin1');
    if (s.startsWith('QFI\xfb')) return 'qcow2';
    if (s.startsWith('vhdxfile')) return 'vhdx';
    if (s.startsWith('KDMV') || s.startsWith('# Disk DescriptorFile')) return 'vmdk';
    if (b.readUInt32LE(0x40) === 0xbeda107f) return 'vdi';
    if (s.startsWith('conectix')) return 'vpc';
    return undefined;
  } finally {
    await fh.close();
  }
}

interface Source {
  path: string;
  release: () => Promise<void>;
}

/** Something partclone can read as the partition alone: its node, the disk itself (no table), or a read-only loop device. */
async function partitionSource(disk: string, isDevice: boolean, p: { index: number; start: number; size: number }, diskSize: number, run: Run): Promise<Source | { reason: string }> {
  const none = async () => {};
  if (p.start === 0 && p.size === diskSize) return { path: disk, release: none };
  if (isDevice) {
    const node = await partitionNode(disk, p.index, p.start);
    if (node) return { path: node, release: none };
  }
  const loop = await attachRangeLoop(disk, p.start, p.size, { readOnly: true, run });
  if ('reason' in loop) return { reason: `no loop device over the partition (${loop.reason}; mapping needs root)` };
  return { path: loop.dev, release: loop.detach };
}

/**
 * One record per partition of `table` (and the whole-disk filesystem of a
 * disk without a table): mapped by partclone, or kept whole and why.
 */
export async function mapPartitions(diskPath: string, table: TableSummary, o: MapOptions = {}): Promise<PartitionUse[]> {
  const run = o.run ?? defaultRun;
  const log = o.log ?? (() => {});
  const st = await stat(diskPath);
  const isDevice = st.isBlockDevice();
  const diskSize = isDevice ? Number.POSITIVE_INFINITY : st.size;
  const format = o.format && o.format !== 'raw' ? o.format : isDevice ? undefined : await virtualFormat(diskPath);
  const out: PartitionUse[] = [];
  let work: string | undefined;
  try {
    for (const p of table.partitions) {
      const fs = p.filesystem;
      const whole = (reason: string) => wholeUse(p.index, fs, p.size, reason);
      let use: PartitionUse;
      if (o.raw) use = whole('--raw: every byte kept');
      else if (p.size === 0) use = whole('an empty partition');
      else if (format) use = whole('virtual disk: convert it to raw to map used blocks');
      else if (!fs) use = whole('no filesystem this tool understands: every byte kept');
      else if (fs === 'swap') use = mappedUse(p.index, fs, p.size, []); // only its header page, inside the guard
      else if (CONTAINERS[fs]) use = whole(CONTAINERS[fs]);
      else if (!TOOLS[fs]) use = whole(`${fs}: no used-block reader for this filesystem, every byte kept`);
      else {
        work ??= await mkdtemp(join(o.tmpDir ?? tmpdir(), 'netrestore-map-'));
        use = await mapOne(diskPath, isDevice, { index: p.index, start: p.start, size: p.size }, fs, table.type === 'none' ? p.size : diskSize, work, run);
      }
      log(use.mapped ? `partition ${p.index} (${fs}): ${mib(use.usedBytes)} of ${mib(p.size)} used` : `partition ${p.index}${fs ? ` (${fs})` : ''}: kept whole, ${use.reason}`);
      out.push(use);
    }
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
  return out;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function mapOne(disk: string, isDevice: boolean, p: { index: number; start: number; size: number }, fs: string, diskSize: number, work: string, run: Run): Promise<PartitionUse> {
  const tool = TOOLS[fs]!;
  const whole = (reason: string) => wholeUse(p.index, fs, p.size, reason);
  const source = await partitionSource(disk, isDevice, p, diskSize, run);
  if ('reason' in source) return whole(source.reason);
  const mapFile = join(work, `p${p.index}.map`);
  const logFile = join(work, `p${p.index}.log`);
  try {
    const r = await run(tool, partcloneArgs(source.path, mapFile, logFile));
    if (r.exitCode === 127) return whole(`${tool} is not installed (Debian package partclone): every byte kept`);
    const logText = await readFile(logFile, 'utf8').catch(() => '');
    if (r.exitCode !== 0) return whole(`${tool} could not read the filesystem (${partcloneComplaint(r.stderr, logText)}): damaged or unclean, every byte kept`);
    const text = await readFile(mapFile, 'utf8').catch(() => '');
    const judged = judgeDomainMap(text, p.size);
    if ('reason' in judged) return whole(`${judged.reason}: every byte kept`);
    return mappedUse(p.index, fs, p.size, judged.used);
  } finally {
    await source.release();
  }
}
