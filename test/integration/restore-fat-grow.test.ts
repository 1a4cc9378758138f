/**
 * FAT last partitions restored onto disks twice their size, through the real
 * CLI and HTTP: the partition grows to the end of the disk and netrestore's
 * own FAT grow (restore-agent/fat-grow.ts) grows the filesystem with it.
 * Checked with tools that are not ours: fsck.fat -n -v (clean, and the size
 * it reports), mtools at the partition's offset (free space, the volume's
 * serial and label, every file's name and bytes). FAT32 fills the partition;
 * FAT16 stops at its type's cluster limit and the report says so; a FAT32
 * marked dirty is left as it was, with the reason in `growWarning`.
 */
import { execa } from 'execa';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { expectedFiles, makeDisk, MiB, readFilesBack, type TestDisk } from '../helpers/fs-disks.ts';

const PORT = 18277;
const TOKEN = 'test-admin-token-fat-grow-0123';
const dir = mkdtempSync(join(tmpdir(), 'nr-fat-grow-'));
const store = join(dir, 'store');
let served: Served;
const disks: Record<'fat32' | 'fat16' | 'dirty', TestDisk> = {} as never;

const nr = (args: string[]) => execa(BIN, args, { reject: false, all: true, env: {} });
const restoreArgs = (image: string, target: string, json: boolean) => ['restore', '--server', `http://127.0.0.1:${PORT}`, '--token', TOKEN, '--image', image, '--target', target, '--yes', ...(json ? ['--json'] : [])];
const mtools = (cmd: string, args: string[]) => execa(cmd, args, { env: { MTOOLS_SKIP_CHECK: '1' } });

beforeAll(async () => {
  for (const name of ['fat32', 'fat16', 'dirty'] as const) {
    const fs = name === 'fat16' ? 'fat16' : 'fat32';
    disks[name] = await makeDisk(dir, { table: 'gpt', name, partitions: [{ fs: 'ext4', sizeMiB: 16 }, { fs, sizeMiB: 64 }] });
    if (name === 'dirty') {
      // The FAT32 boot sector's "not cleanly unmounted" bit (byte 65, bit 0), as a crash leaves it.
      const fd = openSync(disks[name].path, 'r+');
      writeSync(fd, Buffer.from([1]), 0, 1, disks[name].partitions[1]!.start + 65);
      closeSync(fd);
    }
    const r = await nr(['publish', disks[name].path, '--name', name, '--images', store, '--no-minimal']);
    expect(r.exitCode, r.all).toBe(0);
  }
  served = await startServe(['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN]);
  await served.waitFor('http.listening');
}, 300_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** What mtools and fsck.fat say of the FAT filesystem at `offset` of `disk`. */
async function fatFacts(disk: string, offset: number) {
  const at = `${disk}@@${offset}`;
  const info = (await mtools('minfo', ['-i', at, '::'])).stdout;
  const free = Number(/([\d ]+) bytes free/.exec((await mtools('mdir', ['-i', at, '::/'])).stdout)![1]!.replace(/ /g, ''));
  const label = (await mtools('mlabel', ['-s', '-i', at, '::'])).stdout.trim();
  const clusterBytes = Number(/sector size: (\d+)/.exec(info)![1]) * Number(/cluster size: (\d+)/.exec(info)![1]);
  return { serial: /serial number: (\w+)/.exec(info)![1], label, free, clusterBytes };
}

/** fsck.fat -n -v on the partition (a loop device over its range, as fsck.fat takes no offset). */
async function fsck(disk: string, offset: number, bytes: number): Promise<{ code: number; out: string; sectors: number }> {
  const dev = (await execa('losetup', ['-f', '--show', '-r', '-o', String(offset), '--sizelimit', String(bytes), disk])).stdout.trim();
  try {
    const r = await execa('fsck.fat', ['-n', '-v', dev], { reject: false, all: true });
    return { code: r.exitCode ?? -1, out: r.all ?? '', sectors: Number(/(\d+) sectors total/.exec(r.all ?? '')?.[1]) };
  } finally {
    await execa('losetup', ['-d', dev]);
  }
}

async function restoreOnto2x(fs: 'fat32' | 'fat16' | 'dirty') {
  const disk = disks[fs];
  const size = 2 * statSync(disk.path).size;
  const target = join(dir, `${fs}-big.raw`);
  await execa('truncate', ['-s', String(size), target]);
  const r = await nr(restoreArgs(fs, target, true));
  expect(r.exitCode, r.all).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  const table = JSON.parse((await execa('sfdisk', ['-J', target])).stdout) as { partitiontable: { lastlba: number; partitions: { start: number; size: number }[] } };
  const last = table.partitiontable.partitions[1]!;
  expect(last.start + last.size - 1).toBe(table.partitiontable.lastlba);
  const p = { ...disk.partitions[1]!, size: last.size * 512 };
  const before = await fatFacts(disk.path, p.start);
  const after = await fatFacts(target, p.start);
  const check = await fsck(target, p.start, p.size);
  if (fs === 'dirty') {
    // What fsck.fat says of the source too: the dirty bit, and a backup boot sector without it.
    expect(check.out).toMatch(/Dirty bit is set/);
    expect(check.out.replace(/^.*(differences between boot sector and its backup|65:01\/00|Not automatically fixing|Dirty bit|removing dirty bit|Leaving filesystem unchanged|This is mostly harmless).*$/gm, '')).not.toMatch(/differ|wrong|lost|invalid|fix/i);
  } else {
    expect(check.code, check.out).toBe(0);
    expect(check.out).not.toMatch(/differ|wrong|lost|invalid/i);
  }
  expect({ serial: after.serial, label: after.label }).toEqual({ serial: before.serial, label: before.label });
  expect(after.label).toBe(`Volume label is ${fs === 'fat16' ? 'FAT16' : 'FAT32'}`);
  expect(await readFilesBack(target, p)).toEqual(expectedFiles(disk, 2));
  rmSync(target);
  return { out, stderr: r.stderr, partitionBytes: p.size, before, after, fsckSectors: check.sectors, size };
}

describe('FAT last partitions onto a 2x disk', () => {
  it('FAT32: the partition and its filesystem fill the disk; fsck.fat -n clean at the new size, the new room free, serial, label and every file kept', async () => {
    const r = await restoreOnto2x('fat32');
    expect(r.out).toMatchObject({ ok: true, verified: true, grown: true });
    expect(r.out.growWarning).toBeUndefined();
    expect(r.stderr).not.toMatch(/warning/);
    // fsck.fat reads the size from the boot sector: the whole grown partition.
    expect(r.fsckSectors * 512).toBe(r.partitionBytes);
    const added = r.partitionBytes - 64 * MiB;
    // The new room is free, less what the larger FAT takes (8 bytes per cluster: two FATs of 4-byte entries).
    expect(r.after.free - r.before.free).toBeGreaterThan(added * (1 - 8 / r.after.clusterBytes) - 64 * 1024);
    expect(r.after.free - r.before.free).toBeLessThanOrEqual(added);

    // The sentence a person reads says it too.
    const again = join(dir, 'big2.raw');
    await execa('truncate', ['-s', String(r.size), again]);
    const human = await nr(restoreArgs('fat32', again, false));
    expect(human.exitCode, human.all).toBe(0);
    expect(human.stdout).toMatch(/; the last partition and its filesystem grew to fill the disk/);
    expect(r.size).toBe(2 * (16 + 64 + 2) * MiB);
  }, 300_000);

  it('FAT16: grows up to its type\'s cluster limit, and the report says the rest of the partition is unused', async () => {
    const r = await restoreOnto2x('fat16');
    expect(r.out).toMatchObject({ ok: true, verified: true, grown: false });
    expect(String(r.out.growWarning)).toMatch(/partition 2 grew to \d+ bytes, but its FAT16 filesystem grew to \d+ bytes, the most FAT16 allows with its \d+-byte clusters \(65524 clusters\)/);
    expect(r.stderr).toContain(`warning: ${String(r.out.growWarning)}`);
    expect(r.fsckSectors * 512).toBeGreaterThan(64 * MiB);
    expect(r.fsckSectors * 512).toBeLessThan(r.partitionBytes);
    expect(r.after.free).toBeGreaterThan(r.before.free + 40 * MiB);
  }, 300_000);

  it('a FAT32 marked dirty: the partition grows, the filesystem is left as it was and the warning says why', async () => {
    const r = await restoreOnto2x('dirty');
    expect(r.out).toMatchObject({ ok: true, verified: true, grown: false });
    expect(String(r.out.growWarning)).toMatch(/^partition 2 grew to \d+ bytes, but its \w+ filesystem kept its old size: the FAT filesystem was left as it was, nothing written: it is marked dirty .*; check it with fsck.fat or chkdsk first\. The disk as restored is fine: grow it with a partition editor/);
    expect(r.fsckSectors * 512).toBe(64 * MiB);
    expect(r.after.free).toBe(r.before.free);
  }, 300_000);
});
