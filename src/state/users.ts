/**
 * Local accounts: a name, a role and a scrypt hash (auth/password.ts). The
 * password itself is never stored or logged.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Role } from '../auth/roles.ts';

export interface User {
  name: string;
  role: Role;
  created: number;
  updated: number;
}

/** What an account's name may be: no colon (HTTP Basic), nothing a log or a script must escape. */
export const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export class UserStore {
  readonly #count: StatementSync;
  readonly #get: StatementSync;
  readonly #hash: StatementSync;
  readonly #list: StatementSync;
  readonly #insert: StatementSync;
  readonly #setHash: StatementSync;
  readonly #setRole: StatementSync;
  readonly #remove: StatementSync;

  constructor(db: DatabaseSync) {
    this.#count = db.prepare('SELECT count(*) AS n FROM users');
    this.#get = db.prepare('SELECT name, role, created, updated FROM users WHERE name = ?');
    this.#hash = db.prepare('SELECT name, role, password FROM users WHERE name = ?');
    this.#list = db.prepare('SELECT name, role, created, updated FROM users ORDER BY name');
    this.#insert = db.prepare('INSERT INTO users (name, role, password, created, updated) VALUES (?, ?, ?, ?, ?)');
    this.#setHash = db.prepare('UPDATE users SET password = ?, updated = ? WHERE name = ?');
    this.#setRole = db.prepare('UPDATE users SET role = ?, updated = ? WHERE name = ?');
    this.#remove = db.prepare('DELETE FROM users WHERE name = ?');
  }

  count(): number {
    return (this.#count.get() as { n: number }).n;
  }

  get(name: string): User | undefined {
    return this.#get.get(name) as User | undefined;
  }

  /** The account with its stored hash, for a login check only. */
  credentials(name: string): { name: string; role: Role; password: string } | undefined {
    return this.#hash.get(name) as { name: string; role: Role; password: string } | undefined;
  }

  list(): User[] {
    return this.#list.all() as unknown as User[];
  }

  /** false when the name is taken. */
  add(name: string, role: Role, passwordHash: string, now = Date.now()): boolean {
    if (this.get(name)) return false;
    this.#insert.run(name, role, passwordHash, now, now);
    return true;
  }

  setPassword(name: string, passwordHash: string, now = Date.now()): boolean {
    return Number(this.#setHash.run(passwordHash, now, name).changes) > 0;
  }

  setRole(name: string, role: Role, now = Date.now()): boolean {
    return Number(this.#setRole.run(role, now, name).changes) > 0;
  }

  remove(name: string): boolean {
    return Number(this.#remove.run(name).changes) > 0;
  }
}
