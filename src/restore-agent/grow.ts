/**
 * After a restore onto a larger disk: the last partition grows to the end of
 * the disk and its filesystem with it (grow-plan.ts decides; this carries it
 * out with sfdisk and the filesystems' own tools). A grow that fails leaves a
 * disk that is still exactly the image: it is said as a warning, never as a
 * failed restore.
 */
import { execa } from 'execa';
import { mkdtemp, open, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../shared/format.ts';
import { NetrestoreError, isNetrestoreError } from '../shared/errors.ts';
import { detectFilesystem } from '../shared/partitions.ts';
import { blockGeometry } from '../shared/disk-reader.ts';
import { planGrow, swapResize, toolArgv, type FsStep, type GrowPlan } from './grow-plan.ts';
import { relocateGptBackup } from './target.ts';
import { partitionNode } from '../shared/partition-node.ts';
import { withRangeLoop } from '../shared/range-loop.ts';
import { growFat } from './fat-grow.ts';
import type { FilesystemSupport, ToolEnv } from './addons.ts';

export interface GrowTarget {
  path: string;
  block: boolean;
  size: number;
}

export interface GrowOptions {
  /** false: keep the image's layout (`--no-grow`). */
  grow?: boolean | undefined;
  warn?: ((s: string) => void) | undefined;
  /** Makes XFS or btrfs mountable and its tool runnable where the machine lacks them (the restore environment's add-ons). */
  support?: FilesystemSupport | undefined;
}

export interface GrowReport {
  /** The last partition and its filesystem now fill the disk. */
  grown: boolean;
  partition?: number;
  /** The partition's size before and after, bytes. */
  from?: number;
  to?: number;
  /** Why not, or what was left undone: also said through `warn`. */
  warning?: string;
}

/** The image's manifest as v1 has it, plus v2's per-partition `fs` where present. */
type GrowManifest = Pick<Manifest, 'source' | 'partitionTable'> & { partitions?: { index: number; fs?: string | undefined }[] };

const fail = (s: string, cause?: unknown) => new NetrestoreError('GROW_FAILED', s, { cause });

/** Grow the last partition and its filesystem to fill `t`; never throws for a grow that did not happen. */
export async function growAfterRestore(t: GrowTarget, m: GrowManifest, o: GrowOptions = {}): Promise<GrowReport> {
  if (o.grow === false || t.size <= m.source.size) return { grown: false };
  const said = (warning: string, rest: Omit<GrowReport, 'grown' | 'warning'> = {}): GrowReport => {
    o.warn?.(warning);
    return { grown: false, ...rest, warning };
  };
  let plan: GrowPlan;
  try {
    plan = planGrow(await planInput(t, m));
  } catch (err) {
    return said(`the disk keeps the image's layout: ${(err as Error).message}`);
  }
  if (plan.action === 'none') return { grown: false };
  if (plan.action === 'refuse') return said(`the disk keeps the image's layout: ${plan.reason}`);
  const ss = m.source.logicalSectorSize;
  const sizes = { partition: plan.index, from: plan.fromSectors * ss };
  try {
    await resizePartition(t, plan.index, plan.start, plan.toSectors);
  } catch (err) {
    return said(`the disk keeps the image's layout: ${(err as Error).message}`, sizes);
  }
  const grownSizes = { ...sizes, to: plan.toSectors * ss };
  const step = plan.step;
  if (!step) return said(plan.warning ?? `partition ${plan.index} grew, its contents did not`, grownSizes);
  let partly: string | undefined;
  try {
    partly = await growFilesystem(t, step, plan.start * ss, plan.toSectors * ss, plan.index, o.support);
  } catch (err) {
    const why = isNetrestoreError(err) ? err.message : `${step.fs}: ${(err as Error).message}`;
    return said(`partition ${plan.index} grew to ${plan.toSectors * ss} bytes, but its ${step.fs} filesystem kept its old size: ${why}. The disk as restored is fine: ${step.later}`, grownSizes);
  }
  // A filesystem that grew less than its partition (FAT12/16's cluster limit): said, and not "grown".
  if (partly) return said(`partition ${plan.index} grew to ${plan.toSectors * ss} bytes, but ${partly}`, grownSizes);
  if (plan.warning) o.warn?.(plan.warning);
  return { grown: true, ...grownSizes, ...(plan.warning ? { warning: plan.warning } : {}) };
}

async function planInput(t: GrowTarget, m: GrowManifest) {
  const targetSectorSize = t.block ? (await blockGeometry(t.path)).sectorSize : m.source.logicalSectorSize;
  let lastUsableLba: number | undefined;
  if (m.partitionTable.type === 'gpt') {
    // restore() has moved the backup header already; once more is harmless, and sfdisk then says where the usable area ends.
    await relocateGptBackup(t.path);
    const table = await readTable(t.path);
    lastUsableLba = table.lastlba;
  }
  // An image that does not name the last partition's filesystem: look at what the disk holds.
  const last = [...m.partitionTable.partitions].sort((a, b) => a.start + a.size - (b.start + b.size)).at(-1);
  let uses = m.partitions;
  if (last && !last.filesystem && !uses?.find((u) => u.index === last.index)?.fs) {
    const fs = await detectOnDisk(t, last.start);
    if (fs) uses = [{ index: last.index, fs }, ...(uses ?? [])];
  }
  return {
    table: m.partitionTable,
    uses,
    sourceBytes: m.source.size,
    targetBytes: t.size,
    sectorSize: m.source.logicalSectorSize,
    targetSectorSize,
    lastUsableLba,
  };
}

interface SfdiskTable {
  label: string;
  lastlba?: number;
  partitions: { node: string; start: number; size: number }[];
}

async function readTable(path: string): Promise<SfdiskTable> {
  const r = await execa('sfdisk', ['-J', path], { reject: false });
  if (r.exitCode !== 0) throw fail(`sfdisk cannot read the partition table of ${path} (${lastLine(r.stderr)})`);
  return (JSON.parse(r.stdout) as { partitiontable: SfdiskTable }).partitiontable;
}

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).at(-1) ?? 'no message';
const nodeIndex = (node: string) => Number(/(\d+)$/.exec(node)?.[1]);

/** Rewrite partition `index`'s entry (GPT or MBR) to `sectors` from the same start, and check that the disk now says so. */
async function resizePartition(t: GrowTarget, index: number, start: number, sectors: number): Promise<void> {
  const before = (await readTable(t.path)).partitions.find((p) => nodeIndex(p.node) === index);
  if (before?.start !== start) throw fail(`partition ${index} of ${t.path} is not where the image has it (start ${before?.start ?? 'missing'}, image ${start}): the disk changed since the restore`);
  // The kernel learns of the change from partx below: sfdisk's own re-read fails while the disk is open.
  const r = await execa('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', '-N', String(index), t.path], { input: `${start},${sectors}\n`, reject: false });
  const after = (await readTable(t.path)).partitions.find((p) => nodeIndex(p.node) === index);
  if (r.exitCode !== 0 || after?.start !== start || after.size !== sectors) {
    throw fail(`sfdisk could not resize partition ${index} of ${t.path} (${lastLine(r.stderr || r.stdout)})`);
  }
  if (t.block) {
    // Add the node where the kernel has none, then bring its size in line with the table.
    await execa('partx', ['-a', t.path], { reject: false });
    await execa('partx', ['-u', t.path], { reject: false });
  }
}

/** What the partition at `offset` holds, by its superblock. */
async function detectOnDisk(t: GrowTarget, offset: number): Promise<string | undefined> {
  const fh = await open(t.path, 'r');
  try {
    const b = Buffer.alloc(68 * 1024);
    const { bytesRead } = await fh.read(b, 0, b.length, offset);
    return detectFilesystem(b.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** Grows the filesystem, or throws; says what was left undone when it grew only in part. */
async function growFilesystem(t: GrowTarget, step: FsStep, offset: number, bytes: number, index: number, support?: FilesystemSupport): Promise<string | undefined> {
  if (step.swapHeader) return void (await growSwap(t, offset, bytes));
  if (step.fatGrow) return (await growFat(t.path, offset, bytes)).warning;
  // XFS and btrfs: their module and tool, from an add-on where the machine lacks them (before any device is set up).
  const env = step.mount && support ? await support.ready(step.mount, step.runs[0]!.argv[0]!) : undefined;
  await withPartitionDevice(t, index, offset, bytes, async (dev) => {
    if (!step.mount) return runAll(step, dev, '');
    const mnt = await mkdtemp(join(tmpdir(), 'netrestore-grow-'));
    try {
      const m = await execa('mount', ['-t', step.mount, dev, mnt], { reject: false });
      if (m.exitCode !== 0) throw fail(`${step.fs} grows only while mounted, and mounting ${dev} failed (${lastLine(m.stderr)})`);
      try {
        await runAll(step, dev, mnt, env);
      } finally {
        await execa('umount', [mnt], { reject: false });
      }
    } finally {
      await rmdir(mnt).catch(() => undefined);
    }
  });
}

async function runAll(step: FsStep, dev: string, mnt: string, env?: ToolEnv): Promise<void> {
  for (const run of step.runs) {
    const argv = toolArgv(run, dev, mnt);
    // An add-on's tool: found on its PATH (execa looks there), its libraries through LD_LIBRARY_PATH.
    const r = await execa(argv[0]!, argv.slice(1), { reject: false, input: run.input ?? '', all: true, ...(env ? { env, extendEnv: true } : {}) });
    if ((r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw fail(`\`${argv[0]}\` is not on this machine (install it; the restore environment fetches it as an add-on)`);
    if (!run.ok.includes(r.exitCode ?? -1)) {
      throw fail(`\`${argv.join(' ')}\` failed (exit ${r.exitCode ?? r.signal}: ${lastLine(r.all ?? '')})`);
    }
  }
}

/** The partition's own block device: the kernel's node where it has one of the right size, else a loop device over that range. */
async function withPartitionDevice<T>(t: GrowTarget, index: number, offset: number, bytes: number, fn: (dev: string) => Promise<T>): Promise<T> {
  if (t.block) {
    const node = await partitionNode(t.path, index, offset, bytes);
    if (node) return fn(node);
  }
  return withRangeLoop(t.path, offset, bytes, { fail: (why) => fail(`no loop device for partition ${index} of ${t.path} (${why})`) }, fn);
}

async function growSwap(t: GrowTarget, offset: number, bytes: number): Promise<void> {
  const fh = await open(t.path, 'r+');
  try {
    const head = Buffer.alloc(65536);
    await fh.read(head, 0, head.length, offset);
    const r = swapResize(head, bytes);
    if ('reason' in r) throw fail(`the swap partition was not resized: ${r.reason}`);
    const field = Buffer.alloc(4);
    field.writeUInt32LE(r.lastPage);
    await fh.write(field, 0, 4, offset + r.offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
