/**
 * Boot sessions: the token on a booted agent's kernel command line, bound to
 * one MAC, mode, image and task. Only its SHA-256 is stored: the database
 * alone does not let anyone act as an agent.
 *
 * A session is short-lived: it lapses after `idleMs` without use (pushed on
 * by every call, so a long restore keeps it), after `maxMs` whatever happens,
 * and as soon as its task is no longer pending or started (done, failed,
 * cancelled, replaced). It is bound to the address of its first API call
 * (http/access.ts says why that one and not iPXE's).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { normalizeMac } from './hosts.ts';

export interface Session {
  /** The SHA-256 of its token: how the store finds it again. */
  id: string;
  mac: string;
  /** restore, capture or shell. */
  mode: string;
  /** restore: the one image it may read; capture: the one name it may publish (null: the first it publishes). */
  image: string | null;
  task: number | null;
  /** The account that logged in at the menu; null for a task or a menu login without accounts. */
  user: string | null;
  /** The address iPXE asked from when the session was made. */
  issuedTo: string | null;
  /** The address of its first API call; every later call must come from it. */
  boundTo: string | null;
  /** capture: the image it published (one per session). */
  published: string | null;
  /** Idle deadline (ms), pushed on by use. */
  expires: number;
  /** Hard deadline (ms). */
  ends: number;
}

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

/** Long enough to boot, pick a disk and start; a running restore or capture keeps it alive. */
export const SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, maxMs: 24 * 3600_000 };

export type SessionLookup = { live: true; session: Session } | { live: false; reason: string };

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const COLUMNS = `s.token_sha256 AS id, s.mac, s.mode, s.image, s.task, s.user, s.issued_to AS issuedTo, s.bound_to AS boundTo,
  s.published, s.expires, s.ends, t.state AS taskState`;

export class SessionStore {
  readonly #purge: StatementSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #bind: StatementSync;
  readonly #extend: StatementSync;
  readonly #boundTo: StatementSync;
  readonly #publish: StatementSync;
  readonly #unpublish: StatementSync;

  constructor(db: DatabaseSync) {
    this.#purge = db.prepare('DELETE FROM sessions WHERE ends < ?');
    this.#insert = db.prepare('INSERT INTO sessions (token_sha256, mac, mode, image, task, user, issued_to, expires, ends) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM sessions s LEFT JOIN tasks t ON t.id = s.task WHERE s.token_sha256 = ?`);
    // Only when still unbound: of two first calls, one binds.
    this.#bind = db.prepare('UPDATE sessions SET bound_to = ? WHERE token_sha256 = ? AND bound_to IS NULL');
    this.#boundTo = db.prepare('SELECT bound_to FROM sessions WHERE token_sha256 = ?');
    this.#extend = db.prepare('UPDATE sessions SET expires = ? WHERE token_sha256 = ?');
    this.#publish = db.prepare('UPDATE sessions SET published = ? WHERE token_sha256 = ? AND published IS NULL');
    this.#unpublish = db.prepare('UPDATE sessions SET published = NULL WHERE token_sha256 = ? AND published = ?');
  }

  /** A new session; its token in clear, given out once. Sessions past their hard deadline go at the same time. */
  open(s: { mac: string; mode: string; image: string | null; task: number | null; user?: string | null; issuedTo?: string | null }, limits: SessionLimits = SESSION_LIMITS, now = Date.now()): string {
    const token = randomBytes(24).toString('base64url');
    this.#purge.run(now);
    const ends = now + limits.maxMs;
    this.#insert.run(sha(token), normalizeMac(s.mac), s.mode, s.image, s.task, s.user ?? null, s.issuedTo ?? null, Math.min(ends, now + limits.idleMs), ends);
    return token;
  }

  /** A token's session, live or why not; undefined for a token no session ever had. */
  lookup(token: string, now = Date.now()): SessionLookup | undefined {
    const row = this.#get.get(sha(token)) as (Session & { taskState: string | null }) | undefined;
    if (!row) return undefined;
    const { taskState, ...session } = row;
    if (session.task !== null && taskState !== 'pending' && taskState !== 'started') return { live: false, reason: `its task ${session.task} has ended` };
    if (now >= session.ends || now >= session.expires) return { live: false, reason: 'it has expired' };
    return { live: true, session };
  }

  /** The live session of a token; undefined when unknown, expired or over. */
  get(token: string, now = Date.now()): Session | undefined {
    const l = this.lookup(token, now);
    return l?.live ? l.session : undefined;
  }

  /**
   * A call from `address` passed: bind the session to it if it is not bound
   * yet, and push its idle deadline on (at most one write a minute). false
   * when another address bound it first.
   */
  use(s: Session, address: string, limits: SessionLimits = SESSION_LIMITS, now = Date.now()): boolean {
    if (s.boundTo === null && Number(this.#bind.run(address, s.id).changes) === 0) {
      if ((this.#boundTo.get(s.id) as { bound_to: string | null } | undefined)?.bound_to !== address) return false;
    } else if (s.boundTo !== null && s.boundTo !== address) return false;
    const next = Math.min(s.ends, now + limits.idleMs);
    if (next - s.expires >= 60_000) this.#extend.run(next, s.id);
    return true;
  }

  /** A capture session claims its one publish, of `image`; false when it already had. */
  claimPublish(s: Session, image: string): boolean {
    return Number(this.#publish.run(image, s.id).changes) > 0;
  }

  /** The publish did not happen after all (the name was taken): the session may try again. */
  releasePublish(s: Session, image: string): void {
    this.#unpublish.run(s.id, image);
  }
}
