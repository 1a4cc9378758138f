/**
 * The drill of a real Linux disk restored onto a larger one (`netrestore
 * drill --disk linux-ext4 --target-size 2x`): the disk of linux-disk.ts,
 * published into the drill's own store, is restored under a one-shot task
 * onto a blank disk larger than its own; the restored disk must boot, its
 * root must check every file, and its root filesystem must fill the new
 * disk (the partition table, the filesystem's own size, and what the booted
 * kernel says of its root). Then e2fsck finds nothing to fix.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { formatBytes } from '../shared/progress.ts';
import { ROOT_LINE } from './linux-disk.ts';
import { withRangeLoop } from '../shared/range-loop.ts';
import { checkDataFiles, checkDataFs, dataFsBytes, onDataPartition, type DataFs } from './data-disk.ts';
import { gptLastUsable } from '../restore-agent/grow-plan.ts';
import { agentRestores, blankDisk, bootRestoredDisk, createTask, exitsWithin, MAC, NET, network, networkVm, step, type Drill } from './parts.ts';

/** The disks the drill can make: a Linux disk that boots, or a data disk whose XFS or btrfs grows through the environment's add-on. */
export const DRILL_DISKS = ['linux-ext4', 'data-xfs', 'data-btrfs'] as const;
export type DrillDisk = (typeof DRILL_DISKS)[number];

/** The booted root may report this much less than its partition (ext4's inode tables and journal are not in statfs). */
const STATFS_SHARE = 0.85;
const MIB = 1024 * 1024;

/** The filesystem of a data disk kind, or undefined for the Linux disk that boots. */
export function dataFsOf(kind: DrillDisk): DataFs | undefined {
  return kind === 'data-xfs' ? 'xfs' : kind === 'data-btrfs' ? 'btrfs' : undefined;
}

/** `2x` (times the image's disk), or a size in bytes with an optional K/M/G/T (binary) suffix. */
export function parseTargetSize(v: string, sourceBytes: number): number {
  const times = /^(\d+(?:\.\d+)?)x$/i.exec(v.trim());
  let bytes: number;
  if (times) bytes = Math.round((Number(times[1]) * sourceBytes) / MIB) * MIB;
  else {
    const m = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(v.trim());
    if (!m) throw new NetrestoreError('USAGE', `--target-size ${v}: give a multiple of the image's disk (2x) or a size (256M, 2G)`);
    const unit = (m[2] ?? '').toUpperCase()[0];
    bytes = Number(m[1]) * (unit ? 1024 ** (' KMGT'.indexOf(unit)) : 1);
  }
  if (bytes <= sourceBytes) throw new NetrestoreError('USAGE', `--target-size ${v} is ${bytes} bytes, not larger than the image's disk (${sourceBytes} bytes): this drill restores onto a larger disk`);
  return bytes;
}

interface Table {
  partitions: { node: string; start: number; size: number; type: string }[];
  sectorsize?: number;
}

/** Returns how many phases a pass has. */
export async function growDrill(d: Drill, targetBytes: number): Promise<number> {
  const { o, result, log, manifest } = d;
  const { net, disk, task } = await step(result, 'network', log, async () => {
    const net = await network(d, { images: o.images });
    const disk = join(d.work, 'disk.raw');
    await blankDisk(disk, targetBytes);
    const task = createTask(join(d.work, 'state.db'), 'restore', o.image);
    return { detail: `task ${task} for ${MAC}: ${o.image} (${formatBytes(manifest.source.size)}) onto a blank ${formatBytes(targetBytes)} disk; service on ${NET.srv.split('/')[0]} (${o.mode} DHCP)`, next: { net, disk, task } };
  });
  const { vm } = networkVm(d, net, disk);
  await agentRestores(d, net, vm, task, 'restored, verified and grown by the agent');
  await exitsWithin(vm, 30_000);
  await vm.stop();
  result.console = vm.console();
  if (o.dataFs) return dataDiskGrew(d, disk, targetBytes, o.dataFs);
  await bootRestoredDisk(d, net, disk);
  const table = await readTable(disk);
  const root = [...table.partitions].sort((a, b) => a.start + a.size - (b.start + b.size)).at(-1);
  const ss = table.sectorsize ?? 512;
  await step(result, 'root-fills-disk', log, async () => {
    if (!root) throw new Error('the restored disk has no partition');
    const partBytes = root.size * ss;
    const end = (root.start + root.size) * ss;
    if (targetBytes - end >= MIB) throw new Error(`the last partition ends at ${end} bytes, ${formatBytes(targetBytes - end)} before the end of the ${formatBytes(targetBytes)} disk: it did not grow`);
    const fsBytes = await ext4Bytes(disk, root.start * ss, partBytes);
    if (partBytes - fsBytes >= MIB) throw new Error(`the partition grew to ${formatBytes(partBytes)} but its ext4 filesystem is ${formatBytes(fsBytes)}: the filesystem did not grow`);
    const line = ROOT_LINE.exec(result.console);
    if (!line) throw new Error('the restored system did not say how large its root is');
    if (line[2] !== 'ok') throw new Error('the restored system found files whose SHA-256 differs from the disk it was made from (see its console)');
    const seen = Number(line[1]);
    if (seen <= manifest.source.size || seen < STATFS_SHARE * partBytes) throw new Error(`the booted system sees a root of ${formatBytes(seen)} on a ${formatBytes(partBytes)} partition (the image's whole disk: ${formatBytes(manifest.source.size)})`);
    return {
      detail: `partition ${root.node.replace(/.*?(\d+)$/, '$1')} ends ${formatBytes(targetBytes - end)} before the end of the ${formatBytes(targetBytes)} disk; ext4 ${formatBytes(fsBytes)}; the booted system's root ${formatBytes(seen)} (statfs), every file's SHA-256 as made`,
      next: undefined,
    };
  });
  await step(result, 'fsck', log, async () => {
    const said = await onPartition(disk, root!.start * ss, root!.size * ss, async (dev) => {
      const r = await execa('e2fsck', ['-fn', dev], { reject: false, all: true });
      if (r.exitCode !== 0) throw new Error(`e2fsck -fn found problems (exit ${r.exitCode}):\n${(r.all ?? '').slice(-1500)}`);
      return (r.all ?? '').trim().split('\n').at(-1) ?? '';
    });
    return { detail: `e2fsck -fn: clean (${said})`, next: undefined };
  });
  return 6;
}

/**
 * A data disk (data-disk.ts) checked on this machine, not booted: the
 * partition reaches the end of the disk, the filesystem fills it, its
 * checker finds nothing, every file reads back. Returns the phases a pass has.
 */
async function dataDiskGrew(d: Drill, disk: string, targetBytes: number, fs: DataFs): Promise<number> {
  const { result, log } = d;
  const table = await readTable(disk);
  const part = table.partitions.at(-1);
  const ss = table.sectorsize ?? 512;
  await step(result, 'fs-fills-disk', log, async () => {
    if (!part) throw new Error('the restored disk has no partition');
    const partBytes = part.size * ss;
    const end = (part.start + part.size) * ss;
    const usableEnd = (gptLastUsable(targetBytes / ss, ss) + 1) * ss;
    if (usableEnd - end >= MIB) throw new Error(`the partition ends at ${end} bytes, ${formatBytes(usableEnd - end)} before the end of the ${formatBytes(targetBytes)} disk's usable area: it did not grow`);
    const fsBytes = await onDataPartition(disk, (dev) => dataFsBytes(dev, fs));
    if (partBytes - fsBytes >= MIB) {
      // What the agent said of it on the console (its grow warning), for the report.
      const at = result.console.lastIndexOf('Not grown');
      const said = at < 0 ? '' : result.console.slice(at, at + 700);
      throw new Error(`the partition grew to ${formatBytes(partBytes)} but its ${fs} filesystem is ${formatBytes(fsBytes)}: the filesystem did not grow${said ? `; the agent said:\n${said}` : ''}`);
    }
    return { detail: `partition ends ${formatBytes(usableEnd - end)} before the end of the ${formatBytes(targetBytes)} disk's usable area; ${fs} ${formatBytes(fsBytes)} on a ${formatBytes(partBytes)} partition`, next: undefined };
  });
  await step(result, 'fsck', log, async () => ({ detail: await onDataPartition(disk, (dev) => checkDataFs(dev, fs)), next: undefined }));
  await step(result, 'files', log, async () => ({ detail: `${await onDataPartition(disk, (dev) => checkDataFiles(dev, fs))} files read back with their SHA-256 as made`, next: undefined }));
  return 6;
}

async function readTable(disk: string): Promise<Table> {
  const r = await execa('sfdisk', ['-J', disk], { reject: false });
  if (r.exitCode !== 0) throw new Error(`sfdisk cannot read the restored disk's partition table: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { partitiontable: Table }).partitiontable;
}

/** The filesystem's own size: block count × block size from its superblock. */
async function ext4Bytes(disk: string, offset: number, bytes: number): Promise<number> {
  return onPartition(disk, offset, bytes, async (dev) => {
    const h = (await execa('dumpe2fs', ['-h', dev], { stderr: 'ignore' })).stdout;
    const count = Number(/^Block count:\s+(\d+)/m.exec(h)?.[1]);
    const size = Number(/^Block size:\s+(\d+)/m.exec(h)?.[1]);
    if (!count || !size) throw new Error(`dumpe2fs found no ext4 superblock on the restored root partition`);
    return count * size;
  });
}

/** A read-only loop device over one partition of a disk file. */
async function onPartition<T>(disk: string, offset: number, bytes: number, fn: (dev: string) => Promise<T>): Promise<T> {
  return withRangeLoop(disk, offset, bytes, { readOnly: true, fail: (why) => new Error(`no loop device over the restored partition: ${why}`) }, fn);
}

/**
 * Make the drill's disk and publish it (used blocks, minimal form: as an
 * admin's `netrestore publish`) into a store in `dir` of the drill's own.
 */
export async function publishDrillDisk(kind: DrillDisk, dir: string, log: (l: string) => void = () => {}): Promise<{ images: string; image: string }> {
  const { publish } = await import('../images/publish.ts');
  const { FileStore } = await import('../images/store.ts');
  const { openRawDisk } = await import('../shared/disk-reader.ts');
  const { mkdir } = await import('node:fs/promises');
  const disk = join(dir, `${kind}.raw`);
  const images = join(dir, 'store');
  const image = `drill-${kind}`;
  const data = dataFsOf(kind);
  if (data) {
    const { buildDataDisk } = await import('./data-disk.ts');
    log(`making the ${kind} disk (GPT, one ${data} partition with files)`);
    await buildDataDisk(disk, data);
  } else {
    const { buildLinuxDisk, bootableKernel } = await import('./linux-disk.ts');
    const kernel = await bootableKernel();
    log(`making the ${kind} disk (Debian kernel ${kernel.version}, extlinux, ext4 root)`);
    await buildLinuxDisk(disk, { vmlinuz: kernel.vmlinuz, kernel: kernel.version });
  }
  await mkdir(images, { recursive: true });
  const reader = await openRawDisk(disk);
  try {
    const m = await publish(reader, await new FileStore(images).init(), { name: image, description: `a Linux disk (${kind}) made by the drill`, sourcePath: disk, tmpDir: dir });
    log(`published ${image}: ${formatBytes(m.source.size)} disk, ${formatBytes(m.totals.stored)} stored`);
  } finally {
    await reader.close();
  }
  return { images, image };
}
