/**
 * Boot sessions: the short-lived token on a booted agent's kernel command
 * line, bound to one MAC, mode, image and task. Only its SHA-256 is stored:
 * the database alone does not let anyone act as an agent.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { normalizeMac } from './hosts.ts';

export interface Session {
  mac: string;
  mode: string;
  image: string | null;
  task: number | null;
  expires: number;
}

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

export class SessionStore {
  readonly #purge: StatementSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;

  constructor(db: DatabaseSync) {
    this.#purge = db.prepare('DELETE FROM sessions WHERE expires < ?');
    this.#insert = db.prepare('INSERT INTO sessions (token_sha256, mac, mode, image, task, expires) VALUES (?, ?, ?, ?, ?, ?)');
    this.#get = db.prepare('SELECT mac, mode, image, task, expires FROM sessions WHERE token_sha256 = ?');
  }

  /** A new session; its token in clear, given out once. Expired sessions go at the same time. */
  open(s: Omit<Session, 'expires'>, ttlMs: number, now = Date.now()): string {
    const token = randomBytes(24).toString('base64url');
    this.#purge.run(now);
    this.#insert.run(sha(token), normalizeMac(s.mac), s.mode, s.image, s.task, now + ttlMs);
    return token;
  }

  /** The live session of a token; undefined when unknown or expired. */
  get(token: string, now = Date.now()): Session | undefined {
    const s = this.#get.get(sha(token)) as Session | undefined;
    return s && s.expires > now ? s : undefined;
  }
}
