/**
 * What a reload (SIGHUP) may change in a running service, and what needs a
 * restart. Pure: the old and the new configuration in, the configuration now
 * in effect and the two lists of keys out.
 */
import type { ServeConfig } from '../config/schema.ts';

/**
 * Keys taken on a reload: read on every request (menus, logins, the
 * restore environment's file names) or by the logger. Everything else
 * (ports, addresses, the interface, DHCP mode and pool, paths, the admin
 * token, TLS) is bound into sockets, files or the database at start.
 */
export const RELOADABLE = ['menuTitle', 'menuTimeout', 'menuDefault', 'menuUser', 'menuPassword', 'menuTemplates', 'kernel', 'initrd', 'logLevel', 'stopTimeout'] as const;

export interface ReloadPlan {
  /** The old configuration with the reloadable keys of the new one. */
  effective: ServeConfig;
  /** Reloadable keys whose value changed: in effect now. */
  applied: string[];
  /** Keys whose value changed but that only a restart takes. */
  restart: string[];
}

export function planReload(old: ServeConfig, next: ServeConfig): ReloadPlan {
  const reloadable = new Set<string>(RELOADABLE);
  const keys = [...new Set([...Object.keys(old), ...Object.keys(next)])].sort();
  const changed = keys.filter((k) => JSON.stringify((old as Record<string, unknown>)[k]) !== JSON.stringify((next as Record<string, unknown>)[k]));
  const applied = changed.filter((k) => reloadable.has(k));
  const effective: Record<string, unknown> = { ...old };
  for (const k of applied) {
    const v = (next as Record<string, unknown>)[k];
    if (v === undefined) delete effective[k];
    else effective[k] = v;
  }
  return { effective: Object.freeze(effective) as ServeConfig, applied, restart: changed.filter((k) => !reloadable.has(k)) };
}
