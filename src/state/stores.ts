/** Every store of the state database, opened on one connection. */
import type { DatabaseSync } from 'node:sqlite';
import { AuditLog } from './audit.ts';
import { HistoryLog } from './history.ts';
import { HostStore } from './hosts.ts';
import { SessionStore } from './sessions.ts';
import { TaskStore } from './tasks.ts';
import { UserStore } from './users.ts';

export interface State {
  hosts: HostStore;
  tasks: TaskStore;
  sessions: SessionStore;
  history: HistoryLog;
  audit: AuditLog;
  users: UserStore;
}

export function openStores(db: DatabaseSync): State {
  return { hosts: new HostStore(db), tasks: new TaskStore(db), sessions: new SessionStore(db), history: new HistoryLog(db), audit: new AuditLog(db), users: new UserStore(db) };
}
