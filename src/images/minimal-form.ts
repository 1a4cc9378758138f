/**
 * An image's minimal form: the same disk with its last partition's
 * filesystem shrunk to its minimum, made at publish time on a copy (the
 * source is only ever read). Stored as more chunks of the same store, it lets
 * a restore onto a disk smaller than the original — but at least the minimal
 * form's size — restore that form and grow it to fit (restore-agent/grow.ts).
 *
 * The plan (which partition, which tool, the layout after the shrink, the
 * smallest disk) is pure; makeMinimalForm carries it out on a sparse copy.
 */
import { execa } from 'execa';
import { mkdtemp, open, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DiskReader } from '../shared/disk-reader.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { isZero } from '../shared/format.ts';
import type { TableSummary } from '../shared/partitions.ts';
import { attachRangeLoop } from '../shared/range-loop.ts';

const MIB = 1024 * 1024;
/** GPT keeps a backup entry array and header after the last usable sector: 33 sectors of 512 bytes, 6 of 4096. */
const gptTail = (sectorSize: number) => 1 + Math.ceil((128 * 128) / sectorSize);

/** A command; `{dev}` is the partition's device, `{mnt}` where it is mounted, `{size}` the size the filesystem shrinks to. */
export interface ShrinkRun {
  argv: string[];
  ok: number[];
  input?: string;
}

/** How a filesystem shrinks to its minimum, or why it cannot. */
export type ShrinkTool =
  | { fs: 'ext'; runs: ShrinkRun[] }
  /** NTFS: `probe` says the smallest size (ntfsShrinkTo), then `runs` shrink to it. */
  | { fs: 'ntfs'; probe: ShrinkRun; runs: ShrinkRun[] }
  /** btrfs shrinks only while mounted: `probe` estimates its smallest size (btrfsShrinkTo), `runs` shrink, `check` reads it through once unmounted. */
  | { fs: 'btrfs'; probe: ShrinkRun; runs: ShrinkRun[]; check: ShrinkRun }
  | { reason: string };

export function shrinkTool(fs: string | undefined): ShrinkTool {
  const f = fs?.toLowerCase();
  if (f && /^ext[234]$/.test(f)) {
    // resize2fs -M wants a freshly checked filesystem; the check runs on the copy.
    return { fs: 'ext', runs: [{ argv: ['e2fsck', '-f', '-p', '{dev}'], ok: [0, 1] }, { argv: ['resize2fs', '-M', '{dev}'], ok: [0] }] };
  }
  if (f === 'ntfs') {
    const resize = (dry: boolean): ShrinkRun => ({ argv: ['ntfsresize', ...(dry ? ['--no-action'] : []), '--force', '--size', '{size}', '{dev}'], ok: [0], input: 'y\n' });
    return { fs: 'ntfs', probe: { argv: ['ntfsresize', '--info', '--force', '{dev}'], ok: [0] }, runs: [resize(true), resize(false)] };
  }
  if (f === 'xfs') return { reason: 'XFS cannot shrink: the image restores only onto a disk at least as large as the original' };
  if (f === 'btrfs') {
    return {
      fs: 'btrfs',
      probe: { argv: ['btrfs', 'inspect-internal', 'min-dev-size', '{mnt}'], ok: [0] },
      runs: [{ argv: ['btrfs', 'filesystem', 'resize', '{size}', '{mnt}'], ok: [0] }],
      check: { argv: ['btrfs', 'check', '--readonly', '{dev}'], ok: [0] },
    };
  }
  return { reason: `${fs ?? 'an unknown filesystem'} cannot be shrunk by netrestore: the image restores only onto a disk at least as large as the original` };
}

/**
 * The size an NTFS volume shrinks to, from `ntfsresize --info`: its smallest
 * ("You might resize at N bytes"), rounded up to a MiB and one more MiB of
 * room, but never more than it is now.
 */
export function ntfsShrinkTo(info: string, current: number): number | undefined {
  const min = Number(/You might resize at (\d+) bytes/.exec(info)?.[1]);
  if (!Number.isSafeInteger(min) || min <= 0) return undefined;
  const to = (Math.ceil(min / MIB) + 1) * MIB;
  return to < current ? to : undefined;
}

/**
 * The size a btrfs filesystem shrinks to, from `btrfs inspect-internal
 * min-dev-size` ("N bytes (…)"): an estimate from its allocated chunks, so
 * with room for the relocation the shrink itself needs: a tenth more, at least
 * 64 MiB, rounded up to a MiB; never more than it is now.
 */
export function btrfsShrinkTo(out: string, current: number): number | undefined {
  const min = Number(/^(\d+) bytes/m.exec(out)?.[1]);
  if (!Number.isSafeInteger(min) || min <= 0) return undefined;
  const to = Math.max(256 * MIB, Math.ceil((min + Math.max(64 * MIB, min / 10)) / MIB) * MIB);
  return to < current ? to : undefined;
}

export type MinimalPlan =
  | { action: 'shrink'; index: number; start: number; tool: Extract<ShrinkTool, { fs: string }> }
  | { action: 'none'; reason: string };

/** Which partition would shrink and with what; the new sizes come once the filesystem has shrunk (minimalLayout). */
export function planMinimalForm(table: Pick<TableSummary, 'type' | 'partitions'>, uses?: { index: number; fs?: string | undefined }[]): MinimalPlan {
  if (table.type === 'none') return { action: 'none', reason: 'the disk has no partition table: there is no last partition to shrink' };
  const last = [...table.partitions].sort((a, b) => a.start + a.size - (b.start + b.size)).at(-1);
  if (!last) return { action: 'none', reason: 'the partition table has no partitions' };
  if (table.type === 'mbr' && (['05', '0f', '85'].includes(last.type.toLowerCase()) || last.index > 4)) {
    return { action: 'none', reason: 'the last partition is a logical one: only a primary partition shrinks' };
  }
  const tool = shrinkTool(uses?.find((u) => u.index === last.index)?.fs ?? last.filesystem);
  if ('reason' in tool) return { action: 'none', reason: tool.reason };
  return { action: 'shrink', index: last.index, start: last.start, tool };
}

/**
 * The layout once the filesystem holds `fsBytes`: the partition keeps its
 * start and ends on the next MiB boundary; the disk ends there too, plus
 * GPT's backup. `diskBytes` is the smallest disk the minimal form fits.
 */
export function minimalLayout(o: { tableType: 'mbr' | 'gpt'; start: number; fsBytes: number; originalSize: number; sectorSize: number; sourceBytes: number; exact?: boolean }): { sectors: number; partitionBytes: number; diskBytes: number } {
  // NTFS keeps its backup boot sector in the partition's last sector: its partition is exactly its size.
  const end = o.exact ? o.start + o.fsBytes : Math.ceil((o.start + o.fsBytes) / MIB) * MIB;
  const partitionBytes = Math.min(end - o.start, o.originalSize);
  const tail = o.tableType === 'gpt' ? gptTail(o.sectorSize) * o.sectorSize : 0;
  const diskBytes = Math.min(Math.ceil((o.start + partitionBytes + tail) / MIB) * MIB, o.sourceBytes);
  return { sectors: partitionBytes / o.sectorSize, partitionBytes, diskBytes };
}

export interface MinimalForm {
  /** The minimal disk, a sparse file: publish scans it as a second form of the image. */
  path: string;
  index: number;
  partitionBytes: number;
  /** Its size: the smallest disk the image restores onto (`minTargetBytes`). */
  diskBytes: number;
}

const fail = (s: string, cause?: unknown) => new NetrestoreError('MINIMAL_FORM', s, { cause });
const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).at(-1) ?? 'no message';

/**
 * Copy the disk `reader` reads into `out` (sparse: zero blocks are not
 * written), shrink its last partition's filesystem to its minimum there, the
 * partition with it, and cut the file after it. Returns undefined with the
 * reason when the image has no minimal form; throws when a tool fails.
 */
export async function makeMinimalForm(reader: DiskReader, table: Pick<TableSummary, 'type' | 'partitions'>, out: string, o: { uses?: { index: number; fs?: string | undefined }[] } = {}): Promise<MinimalForm | { reason: string }> {
  const plan = planMinimalForm(table, o.uses);
  if (plan.action === 'none') return { reason: plan.reason };
  if (table.type === 'none') return { reason: 'no partition table' };
  const last = table.partitions.find((p) => p.index === plan.index)!;
  await sparseCopy(reader, out);
  const loop = await attachRangeLoop(out, last.start, last.size);
  if ('reason' in loop) throw fail(`no loop device for the minimal form's partition ${plan.index} (${loop.reason})`);
  const dev = loop.dev;
  let fsBytes: number;
  try {
    const sub = (run: ShrinkRun, size: number, mnt: string) => run.argv.map((a) => (a === '{dev}' ? dev : a === '{mnt}' ? mnt : a === '{size}' ? String(size) : a));
    const exec = async (run: ShrinkRun, size = 0, mnt = '') => {
      const argv = sub(run, size, mnt);
      const r = await execa(argv[0]!, argv.slice(1), { reject: false, all: true, input: run.input ?? '' });
      if (!run.ok.includes(r.exitCode ?? -1)) throw fail(`the image's minimal form could not be made: \`${argv.join(' ')}\` failed (exit ${r.exitCode ?? r.signal}: ${lastLine(r.all ?? '')})`);
      return r.all ?? '';
    };
    if (plan.tool.fs === 'ntfs') {
      const size = ntfsShrinkTo(await exec(plan.tool.probe), last.size);
      if (size === undefined) return { reason: 'the NTFS filesystem is already at its smallest size' };
      for (const run of plan.tool.runs) await exec(run, size);
      // ntfsresize puts the backup boot sector in the last sector of `size`: the partition ends right there.
      fsBytes = size;
    } else if (plan.tool.fs === 'btrfs') {
      const tool = plan.tool;
      const shrunk = await onMounted(dev, async (mnt) => {
        const size = btrfsShrinkTo(await exec(tool.probe, 0, mnt), last.size);
        if (size === undefined) return { reason: 'the btrfs filesystem is already at its smallest size' };
        for (const run of tool.runs) await exec(run, size, mnt);
        return size;
      });
      if (typeof shrunk !== 'number') return shrunk;
      await exec(tool.check);
      fsBytes = shrunk;
    } else {
      for (const run of plan.tool.runs) await exec(run);
      fsBytes = await extBytes(dev);
    }
  } finally {
    await loop.detach();
  }
  const layout = minimalLayout({ tableType: table.type, start: last.start, fsBytes, originalSize: last.size, sectorSize: reader.sectorSize, sourceBytes: reader.size, exact: plan.tool.fs === 'ntfs' });
  const sfdisk = await execa('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', '-N', String(plan.index), out], { input: `${last.start / reader.sectorSize},${layout.sectors}\n`, reject: false });
  if (sfdisk.exitCode !== 0) throw fail(`the minimal form's partition ${plan.index} could not be shrunk (${lastLine(sfdisk.stderr)})`);
  // GPT: once cut, the disk is shorter than its primary header says, and sfdisk no longer reads the
  // table. So its dump (IDs, types, names kept), less the old end, is written again onto the cut disk.
  const dump = table.type === 'gpt' ? await execa('sfdisk', ['-d', out]) : undefined;
  await execa('truncate', ['-s', String(layout.diskBytes), out]);
  if (dump) {
    const again = dump.stdout.split('\n').filter((l) => !/^(last-lba|device):/.test(l)).join('\n') + '\n';
    const r = await execa('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', out], { input: again, reject: false });
    if (r.exitCode !== 0) throw fail(`the minimal form's GPT could not be written at its new end (${lastLine(r.stderr)})`);
  }
  return { path: out, index: plan.index, partitionBytes: layout.partitionBytes, diskBytes: layout.diskBytes };
}

/**
 * Run `fn` with the btrfs filesystem on `dev` mounted, unmounted afterwards.
 * A server whose kernel cannot mount btrfs makes no minimal form (the reason
 * says so); it does not fail the publish.
 */
async function onMounted<T>(dev: string, fn: (mnt: string) => Promise<T>): Promise<T | { reason: string }> {
  const mnt = await mkdtemp(join(tmpdir(), 'nr-minimal-'));
  try {
    const m = await execa('mount', ['-t', 'btrfs', dev, mnt], { reject: false });
    if (m.exitCode !== 0) return { reason: `btrfs shrinks only while mounted, and this server could not mount the copy (${lastLine(m.stderr)}): the image restores only onto a disk at least as large as the original` };
    try {
      return await fn(mnt);
    } finally {
      const u = await execa('umount', [mnt], { reject: false });
      if (u.exitCode !== 0) throw fail(`the minimal form's copy could not be unmounted from ${mnt} (${lastLine(u.stderr)})`);
    }
  } finally {
    await rmdir(mnt).catch(() => {});
  }
}

/** An ext filesystem's size from its superblock, as dumpe2fs reads it. */
async function extBytes(dev: string): Promise<number> {
  const { stdout } = await execa('dumpe2fs', ['-h', dev], { reject: false });
  const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(stdout)?.[1]);
  const bytes = n('Block count') * n('Block size');
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw fail(`the shrunk filesystem on ${dev} has no readable size (dumpe2fs)`);
  return bytes;
}

/** Copy the whole disk, writing only blocks that are not zeros: the file stays as sparse as the disk is empty. */
async function sparseCopy(reader: DiskReader, out: string): Promise<void> {
  const fh = await open(out, 'w');
  try {
    await fh.truncate(reader.size);
    const step = 4 * MIB;
    const buf = Buffer.alloc(step);
    for (let off = 0; off < reader.size; off += step) {
      const len = Math.min(step, reader.size - off);
      const b = await reader.read(off, len, buf);
      if (!isZero(b)) await fh.write(b, 0, len, off);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
