/**
 * The disks of this machine as the console shows them: name, model,
 * serial, size, partition table, and whether they hold data. The reading
 * is the edge (/sys/block and the first MiB of each disk); the summary and
 * the warning are pure.
 */
import { open, readFile, readdir } from 'node:fs/promises';
import { isZero } from '../shared/format.ts';
import { parseTable } from '../shared/partitions.ts';
import { formatBytes } from '../shared/progress.ts';

export interface Disk {
  name: string;
  path: string;
  model: string;
  serial: string;
  size: number;
  removable: boolean;
  table: 'mbr' | 'gpt' | 'none';
  partitions: number;
  /** Anything but zeros in the first MiB. */
  holdsData: boolean;
}

/** Not disks an image goes to: RAM disks, loops, CD drives, floppies, device-mapper and RAID members' views. */
const SKIP = /^(loop|ram|zram|sr|fd|dm-|md|nbd)/;

/** What the first MiB says: the table and whether anything is there. */
export function summarizeHead(head: Buffer): { table: Disk['table']; partitions: number; holdsData: boolean } {
  const t = parseTable(head, 512);
  return { table: t.type, partitions: t.partitions.length, holdsData: !isZero(head) };
}

/** The line under a disk in the list: what writing to it destroys. */
export function diskWarning(d: Disk): string | undefined {
  if (!d.holdsData) return undefined;
  if (d.table !== 'none') return `holds data: ${d.table.toUpperCase()} table with ${d.partitions} partition${d.partitions === 1 ? '' : 's'}`;
  return 'holds data (no partition table)';
}

export function diskLine(d: Disk): string {
  const what = [d.model || 'unknown model', d.serial ? `serial ${d.serial}` : '', d.removable ? 'removable' : ''].filter(Boolean).join(', ');
  return `${d.name.padEnd(8)} ${formatBytes(d.size).padStart(10)}  ${what}`;
}

const text = (path: string) => readFile(path, 'utf8').then((s) => s.trim(), () => '');

export async function listDisks(sys = '/sys/block', dev = '/dev'): Promise<Disk[]> {
  const out: Disk[] = [];
  for (const name of (await readdir(sys).catch(() => [])).sort()) {
    if (SKIP.test(name)) continue;
    const size = Number(await text(`${sys}/${name}/size`)) * 512;
    if (!size) continue;
    const serial = (await text(`${sys}/${name}/device/serial`)) || (await text(`${sys}/${name}/serial`)) || (await text(`${sys}/${name}/device/wwid`));
    const head = Buffer.alloc(Math.min(size, 1024 * 1024));
    try {
      const fh = await open(`${dev}/${name}`, 'r');
      try {
        await fh.read(head, 0, head.length, 0);
      } finally {
        await fh.close();
      }
    } catch {
      continue; // no device node: not a disk we can write either
    }
    out.push({ name, path: `${dev}/${name}`, model: await text(`${sys}/${name}/device/model`), serial, size, removable: (await text(`${sys}/${name}/removable`)) === '1', ...summarizeHead(head) });
  }
  return out;
}
