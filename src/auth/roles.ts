/**
 * Roles and what each may do: the one table for the admin API, the boot
 * menu and the web console. Pure.
 *
 *   viewer    reads: hosts, tasks, history, the audit log, the image catalogue
 *   operator  a viewer who also runs restores and captures (menu, API) and makes tasks
 *   admin     everything: also deletes images and hosts, manages users, changes settings
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);

/**
 * Everything a caller may be allowed. The API's routes name one each (http/auth.ts);
 * `*.start` are the boot menu's entries; `users.manage` and `settings.change` are
 * for the console and whatever else changes them.
 */
export const ACTIONS = [
  'images.list',
  'images.read',
  'chunks.read',
  'chunks.write',
  'images.publish',
  'images.delete',
  'progress.report',
  'tasks.report',
  'tasks.write',
  'hosts.read',
  'hosts.write',
  'hosts.delete',
  'history.read',
  'audit.read',
  'restore.start',
  'capture.start',
  'shell.start',
  'images.verify',
  'drills.start',
  'users.manage',
  'settings.change',
] as const;
export type Action = (typeof ACTIONS)[number];

const VIEWER: readonly Action[] = ['images.list', 'images.read', 'hosts.read', 'history.read', 'audit.read'];
const OPERATOR: readonly Action[] = [...VIEWER, 'chunks.read', 'chunks.write', 'images.publish', 'progress.report', 'tasks.report', 'tasks.write', 'hosts.write', 'restore.start', 'capture.start', 'shell.start', 'images.verify', 'drills.start'];
const GRANTS: Record<Role, ReadonlySet<Action>> = {
  viewer: new Set(VIEWER),
  operator: new Set(OPERATOR),
  admin: new Set(ACTIONS),
};

/** Whether a role may do an action. */
export function may(role: Role, action: Action): boolean {
  return GRANTS[role]?.has(action) ?? false;
}
