/**
 * Restore to a real block device (a loop device made by this test): the
 * kernel sees the new partitions afterwards, and a mounted disk is refused.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestDisk } from '../helpers/disks.ts';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';

const PORT = 18182;
const TOKEN = 'block-device-token-01';
const dir = mkdtempSync(join(tmpdir(), 'nr-block-'));
let loop = '';
let served: Served;

async function loopAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const r = await execa('losetup', ['-f'], { reject: false });
  return r.exitCode === 0;
}

const canLoop = await loopAvailable();

describe.runIf(canLoop)('restore to a block device', () => {
  beforeAll(async () => {
    const disk = await buildTestDisk(dir, 'src');
    await execa(BIN, ['publish', disk, '--name', 'server', '--images', join(dir, 'store')]);
    const backing = join(dir, 'backing.raw');
    await execa('truncate', ['-s', '128M', backing]);
    loop = (await execa('losetup', ['-f', '--show', '-P', backing])).stdout.trim();
    served = await startServe(['--dhcp', 'off', '--tftp-port', 'off', '--http-port', String(PORT), '--listen', '127.0.0.1', '--images', join(dir, 'store'), '--state', join(dir, 's.db'), '--admin-token', TOKEN]);
    await served.waitFor('http.listening');
  }, 120_000);
  afterAll(async () => {
    await execa('umount', [join(dir, 'mnt')], { reject: false });
    if (loop) await execa('losetup', ['-d', loop], { reject: false });
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const restore = () => execa(BIN, ['restore', '--server', `http://127.0.0.1:${PORT}`, '--token', TOKEN, '--image', 'server', '--target', loop, '--yes', '--json'], { reject: false });

  it('writes, verifies, moves the GPT backup, and the kernel sees the partitions', async () => {
    const r = await restore();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, verified: true, gptRelocated: true, grown: true });
    const parts = (await execa('lsblk', ['-lno', 'NAME', loop])).stdout.split('\n').map((s) => s.trim());
    const base = loop.replace('/dev/', '');
    expect(parts).toEqual(expect.arrayContaining([`${base}p1`, `${base}p2`, `${base}p3`]));
    expect((await execa('blkid', ['-o', 'value', '-s', 'TYPE', `${loop}p2`])).stdout).toBe('ext4');
  });

  it('refuses a disk with a mounted partition', async () => {
    mkdirSync(join(dir, 'mnt'));
    await execa('mount', ['-o', 'ro', `${loop}p2`, join(dir, 'mnt')]);
    const r = await restore();
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatch(new RegExp(`${loop}p2 is mounted on .*/mnt: unmount it first`));
    await execa('umount', [join(dir, 'mnt')]);
  });
});
