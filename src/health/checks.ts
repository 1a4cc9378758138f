/** The parts of /healthz that are read when asked: the store, the state database, the boot files. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { PartState } from './health.ts';

export async function storeCheck(dir: string): Promise<PartState> {
  try {
    await access(dir, constants.R_OK | constants.W_OK);
    return { state: 'up' };
  } catch (err) {
    return { state: 'down', reason: `image store not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

export function stateCheck(db: DatabaseSync): PartState {
  try {
    db.prepare('SELECT 1').get();
    return { state: 'up' };
  } catch (err) {
    return { state: 'down', reason: `state database: ${(err as Error).message}` };
  }
}

/** The files a client can be sent: missing ones are named (file names only, no paths). */
export async function bootFilesCheck(bootDir: string, files: readonly string[]): Promise<PartState> {
  const missing: string[] = [];
  for (const f of files) {
    const s = await stat(join(bootDir, f)).catch(() => undefined);
    if (!s?.isFile() || s.size === 0) missing.push(f);
  }
  return missing.length ? { state: 'down', reason: `missing boot files: ${missing.join(', ')} (run build-env or set --boot-dir)` } : { state: 'up' };
}
