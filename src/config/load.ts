/**
 * Load, merge and validate the configuration: file values, then flags.
 * A bad value stops start-up with a message naming the key and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NetrestoreError } from '../shared/errors.ts';
import { serveSchema, type ServeConfig } from './schema.ts';

export function readConfigFile(path: string): Record<string, unknown> {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NetrestoreError('CONFIG_FILE', `cannot read the configuration file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the top level must be an object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new NetrestoreError('CONFIG_FILE', `the configuration file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Flags win over the file; undefined flags are not set. */
export function loadServeConfig(file: Record<string, unknown>, flags: Record<string, unknown>): ServeConfig {
  const merged: Record<string, unknown> = { ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  const result = serveSchema.safeParse(merged);
  if (!result.success) throw configError(result.error);
  const { dns, pool } = result.data;
  return Object.freeze({ ...result.data, dns: Object.freeze([...dns]), pool: pool && Object.freeze({ ...pool }) }) as ServeConfig;
}

function configError(err: z.ZodError): NetrestoreError {
  const lines = err.issues.map((i) => {
    const key = i.path.join('.') || '(top level)';
    const flag = i.path.length ? ` (--${String(i.path[0]).replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())})` : '';
    const msg = i.code === 'unrecognized_keys' ? `unknown key(s): ${i.keys.join(', ')}` : i.message;
    return `${key}${flag}: ${msg}`;
  });
  return new NetrestoreError('CONFIG_INVALID', `invalid configuration: ${lines.join('; ')}`);
}
