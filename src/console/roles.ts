/**
 * What each role may do in the console: the console's buttons named after
 * the one role table (auth/roles.ts), so the console, the API and the boot
 * menu cannot disagree: viewers read; operators also make and cancel tasks,
 * edit hosts, verify images and start drills; admins also delete images.
 * Every handler asks `may`.
 */
import { may as roleMay, ROLES, type Action as RoleAction, type Role } from '../auth/roles.ts';

export { ROLES };
export type ConsoleRole = Role;

export const ACTIONS = ['read', 'host-edit', 'task-create', 'task-cancel', 'image-verify', 'drill-start', 'image-remove'] as const;
export type Action = (typeof ACTIONS)[number];

const GRANT: Record<Action, RoleAction> = {
  read: 'hosts.read',
  'host-edit': 'hosts.write',
  'task-create': 'tasks.write',
  'task-cancel': 'tasks.write',
  'image-verify': 'images.verify',
  'drill-start': 'drills.start',
  'image-remove': 'images.delete',
};

/** Whether a role may do an action. Pure. */
export function may(role: ConsoleRole, action: Action): boolean {
  return roleMay(role, GRANT[action]);
}

/** Every action a role may do, for the templates (buttons a role cannot use are not drawn). */
export function allowed(role: ConsoleRole): Record<Action, boolean> {
  return Object.fromEntries(ACTIONS.map((a) => [a, may(role, a)])) as Record<Action, boolean>;
}
