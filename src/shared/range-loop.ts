/**
 * A loop device over one byte range of a disk or disk file: how a partition
 * is reached as a device of its own when the kernel has no node for it (a
 * disk file, or a kernel that does not read partition tables). util-linux's
 * losetup: busybox's has neither --show nor --sizelimit.
 */
import { execa } from 'execa';

/** Runs a command; never throws for a non-zero exit, a missing program is exit code 127. */
export type LoopRun = (cmd: string, args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface RangeLoopOptions {
  readOnly?: boolean;
  /** Tests inject their own. */
  run?: LoopRun;
}

const execaRun: LoopRun = async (cmd, args) => {
  const r = await execa(cmd, args, { reject: false });
  const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { exitCode: missing ? 127 : (r.exitCode ?? 1), stdout: r.stdout, stderr: r.stderr };
};

/** Attach `bytes` bytes of `file` from `offset`; or why no device could be made. */
export async function attachRangeLoop(file: string, offset: number, bytes: number, o: RangeLoopOptions = {}): Promise<{ dev: string; detach: () => Promise<void> } | { reason: string }> {
  const run = o.run ?? execaRun;
  const r = await run('losetup', [...(o.readOnly ? ['-r'] : []), '-f', '--show', '-o', String(offset), '--sizelimit', String(bytes), file]);
  const dev = r.stdout.trim();
  if (r.exitCode !== 0 || !dev.startsWith('/dev/')) {
    const why = r.exitCode === 127 ? 'losetup is not installed (util-linux)' : r.stderr.trim().split('\n').filter(Boolean).at(-1) || `losetup exited with ${r.exitCode}`;
    return { reason: why };
  }
  return { dev, detach: async () => void (await run('losetup', ['-d', dev])) };
}

/** Run `fn` on a loop device over the range, detached afterwards whatever happens; `fail` turns the reason none was made into the caller's error. */
export async function withRangeLoop<T>(file: string, offset: number, bytes: number, o: RangeLoopOptions & { fail: (reason: string) => Error }, fn: (dev: string) => Promise<T>): Promise<T> {
  const loop = await attachRangeLoop(file, offset, bytes, o);
  if ('reason' in loop) throw o.fail(loop.reason);
  try {
    return await fn(loop.dev);
  } finally {
    await loop.detach();
  }
}
