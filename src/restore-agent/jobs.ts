/**
 * Restore and capture as whole jobs: task reports, the safety checks, the
 * work, the summary. The command line (`netrestore restore|capture`) and the
 * console of the restore environment run these same functions.
 */
import { resolve } from 'node:path';
import { formFor, needsConfirmation, type Manifest, type Role } from '../shared/format.ts';
import { openRawDisk, type DiskReader } from '../shared/disk-reader.ts';
import type { UsedMapper } from '../shared/scan.ts';
import { capture, type CaptureStats } from './capture.ts';
import type { ImagesClient } from './client.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { DEFAULT_PARALLEL, restore, type RestoreStats } from './restore.ts';
import type { Progress } from '../shared/progress.ts';
import { growAfterRestore } from './grow.ts';
import { AddonLoader } from './addons.ts';
import { closeTarget, describeContents, mountedFrom, openTarget } from './target.ts';

export type Contents = 'partition-table' | 'data' | 'empty';

export const describeWhat = (c: Contents) => (c === 'partition-table' ? 'holds a partition table' : c === 'data' ? 'holds data' : 'is empty');

/**
 * Tell the server how task `id` (if any) goes. A report that cannot be made
 * is said through `warn` but does not fail the work: the next boot then shows
 * the task as started, never runs it again by itself.
 */
export async function reportTask(client: ImagesClient, id: number | undefined, state: 'started' | 'done' | 'failed', extra: { error?: string; bytes?: number } = {}, warn: (s: string) => void = () => {}): Promise<void> {
  if (id === undefined) return;
  try {
    await client.taskState(id, state, extra);
  } catch (err) {
    warn(`could not report task ${id} as ${state}: ${(err as Error).message}`);
  }
}

export interface RestoreJob {
  image: string;
  target: string;
  task?: number | undefined;
  parallel?: number;
  verify?: boolean;
  /** false: keep the image's layout on a larger disk (`--no-grow`). */
  grow?: boolean;
  /** Zero the free space too (free chunks are otherwise left as the target has them). */
  zeroFree?: boolean;
  /** Make a missing target as a file even under /dev. */
  createFile?: boolean;
  /** Asked when the disk holds something, or the image is a DC/Exchange; false stops the job. */
  confirm: (m: Manifest, targetSize: number, contents: Contents) => Promise<boolean>;
  onManifest?: (m: Manifest) => void;
  onProgress?: (p: Progress) => void;
  warn?: (s: string) => void;
}

export interface RestoreSummary extends RestoreStats {
  image: string;
  target: string;
  seconds: number;
  /** The last partition and its filesystem grew to fill a larger disk. */
  grown: boolean;
  /** On a larger disk: what did not grow, and why (a FAT filesystem keeps its size), as said through `warn`. */
  growWarning?: string;
  /** The target was smaller than the source: the image's minimal form was restored (and grown). */
  minimalForm: boolean;
}

export async function restoreJob(client: ImagesClient, j: RestoreJob): Promise<RestoreSummary> {
  const t0 = performance.now();
  let target;
  try {
    await reportTask(client, j.task, 'started', {}, j.warn);
    const m = await client.manifest(j.image);
    j.onManifest?.(m);
    const mounted = await mountedFrom(j.target).catch(() => undefined);
    if (mounted) throw new NetrestoreError('TARGET_IN_USE', `${mounted}: unmount it first; netrestore never writes a disk in use`);
    target = await openTarget(j.target, m.source.size, { createFile: j.createFile === true });
    const contents = await describeContents(target);
    if ((contents !== 'empty' || needsConfirmation(m.role)) && !(await j.confirm(m, target.size, contents))) {
      throw new NetrestoreError('TARGET_NOT_CONFIRMED', `${j.target} ${describeWhat(contents)}: not written; confirm with --yes (or type yes at the prompt)`);
    }
    // A disk smaller than the source takes the image's minimal form, grown below to fill it.
    const form = formFor(m, target.size);
    let lastReport = 0;
    const stats = await restore(client, form, target, {
      parallel: j.parallel ?? DEFAULT_PARALLEL,
      verify: j.verify ?? true,
      zeroFree: j.zeroFree === true,
      onProgress: (p) => {
        j.onProgress?.(p);
        const now = performance.now();
        if (now - lastReport > 2000) {
          lastReport = now;
          void client.progress({ mode: 'restore', image: m.name, task: j.task, phase: p.phase, done: p.done, total: p.total, rate: Math.round(p.done / ((now - t0) / 1000)) });
        }
      },
    });
    // XFS and btrfs: in the restore environment, their add-on from the same service (addons.ts).
    const support = new AddonLoader({ fetch: (f) => client.bootFile(f) });
    const { grown, warning: growWarning } = await growAfterRestore(target, form, { grow: j.grow, warn: j.warn, support });
    void client.progress({ mode: 'restore', image: m.name, task: j.task, phase: 'done', done: form.source.size, total: form.source.size });
    await reportTask(client, j.task, 'done', { bytes: stats.bytesWritten }, j.warn);
    return { ...stats, grown, ...(growWarning ? { growWarning } : {}), minimalForm: form !== m, image: j.image, target: j.target, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    await reportTask(client, j.task, 'failed', { error: (err as Error).message }, j.warn);
    throw err;
  } finally {
    if (target) await closeTarget(target);
  }
}

export interface CaptureJob {
  source: string;
  name: string;
  description?: string;
  role?: Role;
  chunkSize?: number;
  /** Keep every byte, free space included (a forensic copy). */
  raw?: boolean;
  /** Reads the used-block maps (default: partclone on the source). */
  mapUsed?: UsedMapper;
  task?: number | undefined;
  /** Opens the source; the agent reads raw disks, the server's CLI also virtual disks (qcow2 …). */
  open?: (path: string) => Promise<DiskReader>;
  onProgress?: (p: Progress) => void;
  warn?: (s: string) => void;
}

export interface CaptureSummary extends CaptureStats {
  image: string;
  source: string;
  seconds: number;
  manifest: Manifest;
}

export async function captureJob(client: ImagesClient, j: CaptureJob): Promise<CaptureSummary> {
  const t0 = performance.now();
  let reader;
  try {
    await reportTask(client, j.task, 'started', {}, j.warn);
    reader = await (j.open ?? openRawDisk)(j.source);
    let lastReport = -Infinity;
    const { manifest, stats } = await capture(client, reader, {
      name: j.name,
      description: j.description ?? '',
      role: j.role ?? 'generic',
      ...(j.chunkSize ? { chunkSize: j.chunkSize } : {}),
      sourcePath: resolve(j.source),
      ...(j.raw ? { raw: true } : {}),
      ...(j.mapUsed ? { mapUsed: j.mapUsed } : {}),
      onProgress: (p) => {
        j.onProgress?.(p);
        // The server's live view, as a restore reports it: every 2 s at most, best effort.
        const now = performance.now();
        if (now - lastReport > 2000) {
          lastReport = now;
          void client.progress({ mode: 'capture', image: j.name, task: j.task, phase: p.phase, done: p.done, total: p.total, rate: Math.round(p.done / ((now - t0) / 1000)) });
        }
      },
    });
    void client.progress({ mode: 'capture', image: j.name, task: j.task, phase: 'done', done: stats.bytesTotal, total: stats.bytesTotal });
    await reportTask(client, j.task, 'done', { bytes: stats.bytesTotal }, j.warn);
    return { ...stats, image: j.name, source: j.source, seconds: (performance.now() - t0) / 1000, manifest };
  } catch (err) {
    await reportTask(client, j.task, 'failed', { error: (err as Error).message }, j.warn);
    throw err;
  } finally {
    await reader?.close();
  }
}
