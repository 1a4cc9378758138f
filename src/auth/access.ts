/**
 * The one access decision: a caller, the permission a route declares, and
 * the facts of the request → pass, 401 or 403. Pure; http/auth.ts gathers the
 * facts and answers, the web console can ask the same.
 *
 * Callers:
 *   admin    the admin token (automation): everything
 *   user     a local account (HTTP Basic, or a console session): what its role may (roles.ts)
 *   session  a boot session token from the menu or a task (state/sessions.ts):
 *              restore  its one image: catalogue entry, manifest, only that image's chunks;
 *                       progress; its own task's state
 *              capture  upload chunks and publish one image, the name it was given
 *                       (or, from the menu, where the name is typed on the console,
 *                       the first it publishes), once; progress; its own task's state
 *              shell    read any image, manifest and chunks (a restore by hand); progress
 *
 * A session is also bound to an address: the one of its first API call. Not
 * the one iPXE asked from: the restore environment asks DHCP again (udhcpc)
 * and a site's DHCP server may well answer it from another range than the
 * one it gives PXE clients (a class for vendor "PXEClient" is common), so
 * binding to iPXE's address would fail good restores there. Binding to the
 * first caller still shuts out anyone who copies the token from the wire or
 * a console once the agent has started; one who wins that race makes the
 * real agent fail loudly (403, logged with both addresses, audited).
 */
import type { Session } from '../state/sessions.ts';
import { ACTIONS, may, type Action, type Role } from './roles.ts';

export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'admin' }
  | { kind: 'user'; name: string; role: Role; via?: string }
  | { kind: 'session'; session: Session };

/** What a route may need to be open: anyone, or an action. */
export type Permission = 'public' | Action;
export const PERMISSIONS: readonly Permission[] = ['public', ...ACTIONS];

/** What a request says, as far as a decision needs it. */
export interface RequestFacts {
  /** The source address (login-guard.ts clientAddress). */
  address: string;
  /** The image the call is about: a route's :name, a published manifest's name; undefined when not known yet. */
  image?: string | undefined;
  /** chunks.read by a restore session: whether the chunk is one of its image's. */
  chunkInImage?: boolean | undefined;
  /** tasks.report: the task reported on. */
  task?: number | undefined;
}

export type Verdict = { pass: true } | { pass: false; status: 401 | 403; reason: string };

const PASS: Verdict = { pass: true };
const deny = (reason: string): Verdict => ({ pass: false, status: 403, reason });

export function decide(caller: Caller | 'invalid', permission: Permission, facts: RequestFacts): Verdict {
  if (permission === 'public') return PASS;
  if (caller === 'invalid' || caller.kind === 'anonymous') return { pass: false, status: 401, reason: 'a valid token or login is required' };
  if (caller.kind === 'admin') return PASS;
  if (caller.kind === 'user') return may(caller.role, permission) ? PASS : deny(`the ${caller.role} role may not do this (${permission})`);
  return sessionDecision(caller.session, permission, facts);
}

function sessionDecision(s: Session, permission: Action, f: RequestFacts): Verdict {
  if (s.boundTo !== null && s.boundTo !== f.address) return deny(`this session token belongs to the machine at ${s.boundTo}, not to ${f.address}`);
  const ownTask = () => (s.task !== null && f.task === s.task ? PASS : deny(`this session token may not report on task ${f.task ?? '?'}`));
  if (s.mode === 'restore') {
    switch (permission) {
      case 'images.list': // answered with its one image only
      case 'progress.report':
        return PASS;
      case 'images.read':
        return s.image !== null && f.image === s.image ? PASS : deny(`this restore session may read image ${s.image ?? '(none)'} only`);
      case 'chunks.read':
        return f.chunkInImage === true ? PASS : deny(`this chunk is not part of image ${s.image ?? '(none)'}, the one this restore session may read`);
      case 'tasks.report':
        return ownTask();
      default:
    }
  } else if (s.mode === 'capture') {
    switch (permission) {
      case 'images.list': // answered with no image: a capture reads nothing
      case 'progress.report':
        return PASS;
      case 'chunks.write':
        return s.published === null ? PASS : deny(`this capture session has published ${s.published} already`);
      case 'images.publish':
        if (s.published !== null) return deny(`this capture session has published ${s.published} already: one image per session`);
        if (s.image !== null && f.image !== undefined && f.image !== s.image) return deny(`this capture session may publish ${s.image} only, not ${f.image}`);
        return PASS;
      case 'tasks.report':
        return ownTask();
      default:
    }
  } else if (s.mode === 'shell') {
    if (permission === 'images.list' || permission === 'images.read' || permission === 'chunks.read' || permission === 'progress.report') return PASS;
  }
  return deny(`a ${s.mode} session token may not do this (${permission})`);
}

/** Whether a caller may read one image (the catalogue shows each caller these only). */
export const mayReadImage = (caller: Caller, image: string, address: string): boolean => decide(caller, 'images.read', { address, image }).pass;
