/**
 * What each role may do in the console, in one table: viewers read;
 * operators also make and cancel tasks, edit hosts, verify images and start
 * drills; admins also delete images. Every handler asks `may`.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type ConsoleRole = (typeof ROLES)[number];

export const ACTIONS = ['read', 'host-edit', 'task-create', 'task-cancel', 'image-verify', 'drill-start', 'image-remove'] as const;
export type Action = (typeof ACTIONS)[number];

const LEAST: Record<Action, ConsoleRole> = {
  read: 'viewer',
  'host-edit': 'operator',
  'task-create': 'operator',
  'task-cancel': 'operator',
  'image-verify': 'operator',
  'drill-start': 'operator',
  'image-remove': 'admin',
};

/** Whether a role may do an action. Pure. */
export function may(role: ConsoleRole, action: Action): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(LEAST[action]);
}

/** Every action a role may do, for the templates (buttons a role cannot use are not drawn). */
export function allowed(role: ConsoleRole): Record<Action, boolean> {
  return Object.fromEntries(ACTIONS.map((a) => [a, may(role, a)])) as Record<Action, boolean>;
}
