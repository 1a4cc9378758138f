/**
 * The restore environment and the drill's test image, built once per run
 * (build-env caches its slow part across runs).
 */
import { execa } from 'execa';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildReport } from '../../src/build-env/build.ts';
import { BIN } from '../../src/drill/service.ts';
import { buildTestImage } from '../../src/drill/test-image.ts';

export const ROOT = join(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'boot-assets/dist');

let built: Promise<BuildReport> | undefined;

export function ensureBootEnv(): Promise<BuildReport> {
  built ??= execa(BIN, ['build-env', '--json'], { cwd: ROOT }).then((r) => JSON.parse(r.stdout) as BuildReport);
  return built;
}

/** A published store in `dir` holding `drill-test`, a disk that boots the Debian kernel and prints TEST_MARKER. */
export async function publishTestImage(dir: string, report: BuildReport): Promise<string> {
  const store = join(dir, 'store');
  mkdirSync(store, { recursive: true });
  const disk = join(dir, 'drill-test.raw');
  if (!existsSync(disk)) await buildTestImage(disk, { vmlinuz: `/boot/vmlinuz-${report.kernelVersion}` });
  await execa(BIN, ['publish', disk, '--name', 'drill-test', '--description', 'boots and prints a marker', '--images', store]);
  return store;
}
