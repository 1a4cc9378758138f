/** What every console page handler works with: the stores, the views, who is asking, and the audit. */
import type { Request, Response } from 'express';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import type { State } from '../state/stores.ts';
import type { AuditRecord } from '../state/audit.ts';
import type { DrillRecords, DrillRunner } from './drills.ts';
import type { LiveProgress } from './live.ts';
import type { LoginSession } from './logins.ts';
import { allowed, may, type Action } from './roles.ts';
import type { Views } from './views.ts';

export interface Console {
  state: State;
  store: ImageStore;
  log: Logger;
  views: Views;
  live: LiveProgress;
  drills: { records: DrillRecords; runner: DrillRunner } | undefined;
}

export const sessionOf = (res: Response): LoginSession => res.locals.console as LoginSession;

/** `console NAME (ip)`: the actor of the audit rows the console writes. */
export const actor = (req: Request, res: Response): string => `console ${sessionOf(res).name} (${req.ip ?? '?'})`;

export function audit(c: Console, req: Request, res: Response, r: Omit<AuditRecord, 'actor'>): void {
  c.state.audit.record({ actor: actor(req, res), ...r });
}

/** Render a page with what every page shows: who, their CSRF token, what they may do, the navigation. */
export function render(c: Console, res: Response, page: string, context: { title: string } & Record<string, unknown>, status = 200): void {
  const s = sessionOf(res);
  res
    .status(status)
    .type('html')
    .send(c.views.page(page, { ...context, user: { name: s.name, role: s.role }, csrf: s.csrf, can: allowed(s.role), nav: { [page]: true } }));
}

/** A message page (refused, not found), in the layout. */
export function message(c: Console, res: Response, status: number, title: string, text: string): void {
  render(c, res, 'message', { title, text, status }, status);
}

/** Whether the caller may; when not, the page says so (403) and the caller learns nothing more. */
export function permit(c: Console, res: Response, action: Action): boolean {
  if (may(sessionOf(res).role, action)) return true;
  message(c, res, 403, 'Not allowed', `Your role (${sessionOf(res).role}) may not do this (${action}). Ask an admin.`);
  return false;
}
