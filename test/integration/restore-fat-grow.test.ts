/**
 * A FAT32 last partition restored onto a disk twice its size, through the
 * real CLI and HTTP: the partition grows to the end of the disk, the FAT
 * filesystem keeps its size (no tool grows it safely: README's design
 * notes), and the restore's report says so in its JSON (`growWarning`) and
 * its sentence; the filesystem passes fsck.vfat -n and mtools reads every
 * file back.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';
import { checkFilesystem, expectedFiles, makeDisk, MiB, readFilesBack, type TestDisk } from '../helpers/fs-disks.ts';

const PORT = 18277;
const TOKEN = 'test-admin-token-fat-grow-0123';
const dir = mkdtempSync(join(tmpdir(), 'nr-fat-grow-'));
const store = join(dir, 'store');
let served: Served;
let disk: TestDisk;

const nr = (args: string[]) => execa(BIN, args, { reject: false, all: true, env: {} });
const restoreArgs = (target: string, json: boolean) => ['restore', '--server', `http://127.0.0.1:${PORT}`, '--token', TOKEN, '--image', 'fat', '--target', target, '--yes', ...(json ? ['--json'] : [])];

beforeAll(async () => {
  disk = await makeDisk(dir, { table: 'gpt', name: 'fat', partitions: [{ fs: 'ext4', sizeMiB: 16 }, { fs: 'fat32', sizeMiB: 64 }] });
  const r = await nr(['publish', disk.path, '--name', 'fat', '--images', store, '--no-minimal']);
  expect(r.exitCode, r.all).toBe(0);
  served = await startServe(['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', store, '--state', join(dir, 'state.db'), '--admin-token', TOKEN]);
  await served.waitFor('http.listening');
}, 240_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a FAT32 last partition onto a 2x disk', () => {
  it('grows the partition, keeps the filesystem, and the report says so; fsck.vfat -n clean, every file read back', async () => {
    const size = 2 * statSync(disk.path).size;
    const target = join(dir, 'big.raw');
    await execa('truncate', ['-s', String(size), target]);
    const r = await nr(restoreArgs(target, true));
    expect(r.exitCode, r.all).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toMatchObject({ ok: true, verified: true, grown: false });
    expect(String(out.growWarning)).toMatch(/its FAT filesystem keeps its old size/);
    expect(r.stderr).toContain(`warning: ${String(out.growWarning)}`);

    const table = JSON.parse((await execa('sfdisk', ['-J', target])).stdout) as { partitiontable: { lastlba: number; partitions: { start: number; size: number }[] } };
    const last = table.partitiontable.partitions[1]!;
    expect(last.start + last.size - 1).toBe(table.partitiontable.lastlba);
    const p = { ...disk.partitions[1]!, size: last.size * 512 };
    const fsck = await checkFilesystem(target, p);
    expect(fsck.ok, fsck.output).toBe(true);
    expect(await readFilesBack(target, p)).toEqual(expectedFiles(disk, 2));

    // The sentence a person reads says it too.
    const again = join(dir, 'big2.raw');
    await execa('truncate', ['-s', String(size), again]);
    const human = await nr(restoreArgs(again, false));
    expect(human.exitCode, human.all).toBe(0);
    expect(human.stdout).toMatch(/; not all grown: partition 2 grew to \d+ bytes|; not all grown: .*its FAT filesystem keeps its old size/);
    expect(size).toBe(2 * (16 + 64 + 2) * MiB);
  }, 240_000);
});
