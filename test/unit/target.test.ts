/**
 * What a restore may write to: a block device, or a file outside /dev (or
 * anywhere with --create-file). Anything else is refused with a sentence that
 * lists the machine's disks, and nothing is created.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isNetrestoreError } from '../../src/shared/errors.ts';
import { closeTarget, openTarget, underDev } from '../../src/restore-agent/target.ts';
import type { Disk } from '../../src/restore-agent/disks.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-target-'));
const shm = join('/dev/shm', `nr-target-test-${process.pid}`);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(shm, { force: true });
});

const disks = async (): Promise<Disk[]> => [
  { name: 'sda', path: '/dev/sda', model: 'QEMU HARDDISK', serial: '', size: 64 * 1024 ** 3, removable: false, table: 'gpt', partitions: 2, holdsData: true },
  { name: 'nvme0n1', path: '/dev/nvme0n1', model: '', serial: '', size: 512 * 1024 ** 3, removable: false, table: 'none', partitions: 0, holdsData: false },
];

async function refusal(path: string, o: { createFile?: boolean } = {}): Promise<Error> {
  const err = await openTarget(path, 1024 * 1024, { ...o, disks }).then(
    async (t) => {
      await closeTarget(t);
      throw new Error(`${path} was opened`);
    },
    (e: unknown) => e as Error,
  );
  expect(isNetrestoreError(err, 'TARGET_INVALID'), String(err)).toBe(true);
  return err;
}

describe('restore targets', () => {
  it('tells paths under /dev', () => {
    expect(underDev('/dev/sdz')).toBe(true);
    expect(underDev('/dev/disk/by-id/x')).toBe(true);
    expect(underDev('/tmp/../dev/sdz')).toBe(true);
    expect(underDev('/tmp/disk.raw')).toBe(false);
    expect(underDev('/devices/x')).toBe(false);
  });

  it('refuses a missing device, naming the disks the machine has, and creates nothing', async () => {
    const path = `/dev/nr-missing-${process.pid}`;
    const err = await refusal(path);
    expect(err.message).toBe(
      `${path} does not exist: a restore writes to a disk (a block device) or to a file outside /dev (--create-file makes one anywhere); this machine's disks: /dev/sda (64.0 GiB, QEMU HARDDISK), /dev/nvme0n1 (512.0 GiB)`,
    );
    expect(existsSync(path)).toBe(false);
    const none = await openTarget(path, 1, { disks: async () => [] }).then(() => new Error('opened'), (e: unknown) => e as Error);
    expect(none.message).toMatch(/this machine has no disk netrestore can see$/);
  });

  it('refuses a character device, a directory, and a file under /dev without --create-file', async () => {
    expect((await refusal('/dev/null')).message).toMatch(/^\/dev\/null is a character device: /);
    expect((await refusal(dir)).message).toMatch(/is a directory: /);
    expect((await refusal(shm)).message).toMatch(/does not exist: /);
    expect(existsSync(shm)).toBe(false);
  });

  it('makes a file outside /dev, and under /dev only when asked', async () => {
    const file = join(dir, 'new.raw');
    let t = await openTarget(file, 4096, { disks });
    expect(t).toMatchObject({ block: false, size: 4096, fresh: true });
    await closeTarget(t);
    t = await openTarget(file, 4096, { disks });
    expect(t).toMatchObject({ block: false, fresh: false });
    await closeTarget(t);
    t = await openTarget(shm, 4096, { createFile: true, disks });
    expect(t).toMatchObject({ block: false, size: 4096, fresh: true });
    await closeTarget(t);
    // Once made (as asked), a file under /dev is still not a disk without the flag.
    expect((await refusal(shm)).message).toMatch(/is a regular file under \/dev: /);
    expect(await refusal(join(dir, 'no-such-dir', 'x.raw')).then((e) => e.message)).toMatch(/cannot be made as a file \(ENOENT\)/);
  });
});
