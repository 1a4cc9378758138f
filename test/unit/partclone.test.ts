/**
 * mapPartitions' decisions with partclone and losetup replaced: which tool,
 * which source, what a map is trusted for, and that every partition's
 * trouble ends as a kept-whole record with a reason, loop devices detached.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeDomainMap, mapPartitions, partcloneArgs, partcloneComplaint, partcloneTool, type Run } from '../../src/shared/partclone.ts';
import type { TableSummary } from '../../src/shared/partitions.ts';
import { END_GUARD_BYTES, GUARD_BYTES } from '../../src/shared/used-areas.ts';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'nr-partclone-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const disk = join(dir, 'disk.raw');
// A sparse 100 MiB "disk": only its size matters here.
writeFileSync(disk, Buffer.alloc(0));
truncateSync(disk, 100 * MiB);

/** A map as partclone writes it: the header, then [start, length, status] lines. */
function domainMap(size: number, lines: [number, number, string][]): string {
  return ['# Domain logfile created by unset_name v0.3.23', '# current_pos  current_status', `0x${size.toString(16)}     ?`, '#      pos        size  status', ...lines.map(([s, l, st]) => `0x${s.toString(16).padStart(8, '0')}  0x${l.toString(16).padStart(8, '0')}  ${st}`)].join('\n') + '\n';
}

function fakeRun(o: { maps?: Record<string, string | { exit: number; log: string }>; losetup?: 'ok' | 'fail' | 'missing'; partclone?: 'missing' } = {}) {
  const calls: string[][] = [];
  let loops = 0;
  const attached = new Set<string>();
  const run: Run = async (cmd, args) => {
    calls.push([cmd, ...args]);
    if (cmd === 'losetup') {
      if (args[0] === '-d') {
        attached.delete(args[1]!);
        return { exitCode: 0, stdout: '', stderr: '' };
      }
      if (o.losetup === 'missing') return { exitCode: 127, stdout: '', stderr: '' };
      if (o.losetup === 'fail') return { exitCode: 1, stdout: '', stderr: 'losetup: cannot find an unused loop device: Permission denied' };
      const dev = `/dev/loop${loops++}`;
      attached.add(dev);
      return { exitCode: 0, stdout: `${dev}\n`, stderr: '' };
    }
    if (o.partclone === 'missing') return { exitCode: 127, stdout: '', stderr: '' };
    const map = args[args.indexOf('-O') + 1]!;
    const log = args[args.indexOf('-L') + 1]!;
    const what = o.maps?.[cmd] ?? domainMap(16 * MiB, [[0, 4 * MiB, '+'], [4 * MiB, 12 * MiB, '?']]);
    if (typeof what === 'string') {
      writeFileSync(map, what);
      writeFileSync(log, 'Partclone v0.3.23\nCalculating bitmap... Please wait... done!\n');
      return { exitCode: 0, stdout: '', stderr: '' };
    }
    writeFileSync(log, what.log);
    return { exitCode: what.exit, stdout: '', stderr: `Partclone fail, please check ${log} !\n` };
  };
  return { run, calls, attached };
}

const part = (index: number, start: number, size: number, filesystem?: string) => ({ index, type: '83', start: start * MiB, size: size * MiB, ...(filesystem ? { filesystem } : {}) });
const table = (...ps: ReturnType<typeof part>[]): TableSummary => ({ type: 'gpt', partitions: ps });

describe('partclone tool and arguments', () => {
  it('picks the tool of each filesystem; none for swap, containers and the unknown', () => {
    expect(['ext2', 'ext3', 'ext4', 'ntfs', 'fat12', 'fat16', 'fat32', 'exfat', 'xfs', 'btrfs'].map(partcloneTool)).toEqual([
      'partclone.extfs', 'partclone.extfs', 'partclone.extfs', 'partclone.ntfs', 'partclone.fat', 'partclone.fat', 'partclone.fat', 'partclone.exfat', 'partclone.xfs', 'partclone.btrfs',
    ]);
    for (const fs of ['swap', 'lvm2', 'luks', 'bitlocker', 'vfat', undefined]) expect(partcloneTool(fs)).toBeUndefined();
  });

  it('asks for a domain map, quietly, without the progress thread sleep, overwriting the map', () => {
    expect(partcloneArgs('/dev/sda1', '/t/m', '/t/l')).toEqual(['-D', '-q', '-f', '0', '-s', '/dev/sda1', '-O', '/t/m', '-L', '/t/l']);
  });
});

describe('judging a domain map', () => {
  it('trusts a map that covers the filesystem from 0 and keeps the tail after the filesystem as used', () => {
    const r = judgeDomainMap(domainMap(12 * MiB, [[0, MiB, '+'], [MiB, 2 * MiB, '?'], [3 * MiB, MiB, '+'], [4 * MiB, 8 * MiB, '?']]), 16 * MiB);
    expect(r).toEqual({ used: [{ start: 0, length: MiB }, { start: 3 * MiB, length: MiB }, { start: 12 * MiB, length: 4 * MiB }] });
  });

  it('refuses a map with a gap, an overlap, no used byte, nothing at all, or a filesystem larger than its partition', () => {
    expect(judgeDomainMap(domainMap(4 * MiB, [[0, MiB, '+'], [2 * MiB, 2 * MiB, '?']]), 4 * MiB)).toEqual({ reason: expect.stringMatching(/gap or overlap at byte 1048576/) });
    expect(judgeDomainMap(domainMap(4 * MiB, [[0, 2 * MiB, '+'], [MiB, 3 * MiB, '?']]), 4 * MiB)).toEqual({ reason: expect.stringMatching(/gap or overlap/) });
    expect(judgeDomainMap(domainMap(4 * MiB, [[0, 4 * MiB, '?']]), 4 * MiB)).toEqual({ reason: expect.stringMatching(/no used block/) });
    expect(judgeDomainMap('# nothing\n', 4 * MiB)).toEqual({ reason: expect.stringMatching(/empty map/) });
    expect(judgeDomainMap(domainMap(8 * MiB, [[0, MiB, '+'], [MiB, 7 * MiB, '?']]), 4 * MiB)).toEqual({ reason: expect.stringMatching(/claims 8388608 bytes but the partition holds 4194304/) });
  });

  it('finds the sentence in what partclone says, its log before its stderr', () => {
    const log = 'Partclone v0.3.23 http://partclone.org\nStarting to map device (x) to domain log (y)\nmemory needed: 2105344 bytes\nbitmap 8192 bytes, blocks 2*1048576 bytes, checksum 0 bytes\nCalculating bitmap... Please wait... extfsclone.c: bitmap error at 0 group.\n';
    expect(partcloneComplaint('Partclone fail, please check /tmp/p1.log !\n', log)).toBe('extfsclone.c: bitmap error at 0 group.');
    expect(partcloneComplaint('ntfsclone-ng.c: NTFS volume is dirty\n', '')).toBe('ntfsclone-ng.c: NTFS volume is dirty');
    expect(partcloneComplaint('', '')).toBe('no message');
  });
});

describe('mapPartitions with partclone replaced', () => {
  it('maps each partition through a read-only loop device at its offset and size, detached afterwards', async () => {
    const f = fakeRun();
    const uses = await mapPartitions(disk, table(part(1, 1, 16, 'ext4'), part(2, 17, 16, 'xfs')), { run: f.run, tmpDir: dir });
    expect(f.calls.filter((c) => c[0] === 'losetup' && c[1] === '-r')).toEqual([
      ['losetup', '-r', '-f', '--show', '-o', String(MiB), '--sizelimit', String(16 * MiB), disk],
      ['losetup', '-r', '-f', '--show', '-o', String(17 * MiB), '--sizelimit', String(16 * MiB), disk],
    ]);
    expect(f.calls.filter((c) => c[0]!.startsWith('partclone')).map((c) => [c[0], c[c.indexOf('-s') + 1]])).toEqual([['partclone.extfs', '/dev/loop0'], ['partclone.xfs', '/dev/loop1']]);
    expect(f.attached.size).toBe(0);
    expect(uses.map((u) => [u.index, u.fs, u.mapped, u.usedBytes])).toEqual([[1, 'ext4', true, 4 * MiB + END_GUARD_BYTES], [2, 'xfs', true, 4 * MiB + END_GUARD_BYTES]]);
    expect(uses[0]!.used).toEqual([[0, 4 * MiB], [16 * MiB - END_GUARD_BYTES, END_GUARD_BYTES]]);
  });

  it('keeps whole, with a reason each, what it cannot map, and never throws for one partition', async () => {
    const f = fakeRun({ maps: { 'partclone.ntfs': { exit: 1, log: 'ntfsclone-ng.c: NTFS Volume is dirty, run chkdsk /f\n' }, 'partclone.btrfs': domainMap(32 * MiB, [[0, MiB, '+'], [MiB, 31 * MiB, '?']]) } });
    const uses = await mapPartitions(
      disk,
      table(part(1, 1, 8), part(2, 9, 8, 'lvm2'), part(3, 17, 8, 'luks'), part(4, 25, 8, 'bitlocker'), part(5, 33, 8, 'ntfs'), part(6, 41, 16, 'btrfs'), part(7, 57, 8, 'swap'), part(8, 65, 8, 'f2fs'), part(9, 73, 16, 'fat32')),
      { run: f.run, tmpDir: dir },
    );
    expect(uses.map((u) => [u.index, u.mapped])).toEqual([[1, false], [2, false], [3, false], [4, false], [5, false], [6, false], [7, true], [8, false], [9, true]]);
    expect(uses[0]!.reason).toMatch(/no filesystem/);
    expect(uses[1]!.reason).toMatch(/LVM physical volume/);
    expect(uses[2]!.reason).toMatch(/LUKS/);
    expect(uses[3]!.reason).toMatch(/BitLocker/);
    expect(uses[4]!.reason).toBe('partclone.ntfs could not read the filesystem (ntfsclone-ng.c: NTFS Volume is dirty, run chkdsk /f): damaged or unclean, every byte kept');
    expect(uses[5]!.reason).toMatch(/does not fit its partition/);
    expect(uses[6]).toMatchObject({ fs: 'swap', usedBytes: GUARD_BYTES + END_GUARD_BYTES });
    expect(uses[7]!.reason).toMatch(/f2fs: no used-block reader/);
    for (const u of uses.filter((x) => !x.mapped)) expect(u.usedBytes).toBe(u.index === 6 || u.index === 9 ? 16 * MiB : 8 * MiB);
    // Neither swap nor the containers cost a partclone run.
    expect(f.calls.filter((c) => c[0]!.startsWith('partclone')).map((c) => c[0])).toEqual(['partclone.ntfs', 'partclone.btrfs', 'partclone.fat']);
    expect(f.attached.size).toBe(0);
  });

  it('gives an empty partition its record too, without running anything', async () => {
    const f = fakeRun();
    const uses = await mapPartitions(disk, table(part(1, 1, 0, 'ext4')), { run: f.run, tmpDir: dir });
    expect(uses).toEqual([{ index: 1, fs: 'ext4', mapped: false, usedBytes: 0, used: [], reason: 'an empty partition' }]);
    expect(f.calls).toEqual([]);
  });

  it('without partclone, or without losetup (not root), keeps everything whole and says which', async () => {
    const noTool = await mapPartitions(disk, table(part(1, 1, 16, 'ext4')), { run: fakeRun({ partclone: 'missing' }).run, tmpDir: dir });
    expect(noTool[0]!.reason).toBe('partclone.extfs is not installed (Debian package partclone): every byte kept');
    const noLoop = await mapPartitions(disk, table(part(1, 1, 16, 'ext4')), { run: fakeRun({ losetup: 'fail' }).run, tmpDir: dir });
    expect(noLoop[0]!.reason).toMatch(/no loop device over the partition \(losetup: cannot find an unused loop device: Permission denied; mapping needs root\)/);
    const noLosetup = await mapPartitions(disk, table(part(1, 1, 16, 'ext4')), { run: fakeRun({ losetup: 'missing' }).run, tmpDir: dir });
    expect(noLosetup[0]!.reason).toMatch(/losetup is not installed/);
  });

  it('--raw and a virtual disk keep every partition whole without running anything', async () => {
    const f = fakeRun();
    const raw = await mapPartitions(disk, table(part(1, 1, 16, 'ext4')), { run: f.run, raw: true });
    expect(raw).toEqual([{ index: 1, fs: 'ext4', mapped: false, usedBytes: 16 * MiB, used: [], reason: '--raw: every byte kept' }]);
    const qcow = join(dir, 'd.qcow2');
    writeFileSync(qcow, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(1020)]));
    const v = await mapPartitions(qcow, table(part(1, 1, 16, 'ext4')), { run: f.run });
    expect(v[0]!.reason).toBe('virtual disk: convert it to raw to map used blocks');
    const told = await mapPartitions(disk, table(part(1, 1, 16, 'ext4')), { run: f.run, format: 'vhdx' });
    expect(told[0]!.mapped).toBe(false);
    expect(f.calls).toEqual([]);
  });

  it('maps a filesystem on the whole disk (no table) from the disk itself, without a loop device', async () => {
    const f = fakeRun({ maps: { 'partclone.extfs': domainMap(100 * MiB, [[0, 3 * MiB, '+'], [3 * MiB, 97 * MiB, '?']]) } });
    const uses = await mapPartitions(disk, { type: 'none', partitions: [{ index: 1, type: 'whole-disk', start: 0, size: 100 * MiB, filesystem: 'ext4' }] }, { run: f.run, tmpDir: dir });
    expect(f.calls.map((c) => c[0])).toEqual(['partclone.extfs']);
    expect(f.calls[0]![f.calls[0]!.indexOf('-s') + 1]).toBe(disk);
    expect(uses[0]).toMatchObject({ mapped: true, usedBytes: 3 * MiB + END_GUARD_BYTES });
  });
});
