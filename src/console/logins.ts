/**
 * Console logins: who may log in (`Authenticate`, injected: the admin token
 * for now, the users store once there is one) and the sessions of those who
 * did. A session lives in memory only (a restart logs everyone out, which is
 * what a restart of the boot server should do), ends after an idle time,
 * and carries its own CSRF token (synchronizer token) that every form posts
 * back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { authenticateUser, type UserLookup } from '../auth/login.ts';
import { safeEqual } from '../http/auth.ts';
import type { ConsoleRole } from './roles.ts';

export interface ConsoleUser {
  name: string;
  role: ConsoleRole;
}

/** A user's name and password → the user, or undefined. */
export type Authenticate = (name: string, password: string) => Promise<ConsoleUser | undefined>;

/** Accounts once there is one (`netrestore users`), as at the boot menu; until then "admin" with the admin token. */
export function accountLogin(users: UserLookup & { count(): number }, isAdminToken: (token: string | undefined) => boolean): Authenticate {
  const token = adminTokenLogin(isAdminToken);
  return async (name, password) => (users.count() > 0 ? authenticateUser(users, name, password) : token(name, password));
}

/** Until there are users: "admin" with the admin token as password. */
export function adminTokenLogin(isAdminToken: (token: string | undefined) => boolean): Authenticate {
  return async (name, password) => (name === 'admin' && isAdminToken(password) ? { name: 'admin', role: 'admin' } : undefined);
}

export interface LoginSession extends ConsoleUser {
  csrf: string;
  lastUsed: number;
}

export const DEFAULT_IDLE_MS = 30 * 60_000;

const digest = (t: string) => createHash('sha256').update(t).digest('hex');

export class Logins {
  /** Keyed by the SHA-256 of the cookie: a heap dump alone does not hand out sessions. */
  readonly #sessions = new Map<string, LoginSession>();
  readonly idleMs: number;
  readonly #now: () => number;

  constructor(o: { idleMs?: number; now?: () => number } = {}) {
    this.idleMs = o.idleMs ?? DEFAULT_IDLE_MS;
    this.#now = o.now ?? Date.now;
  }

  /** A new session; its cookie value in clear. */
  open(user: ConsoleUser): string {
    const token = randomBytes(32).toString('base64url');
    this.#purge();
    this.#sessions.set(digest(token), { ...user, csrf: randomBytes(24).toString('base64url'), lastUsed: this.#now() });
    return token;
  }

  /** The live session of a cookie, its idle clock restarted; undefined when unknown or idle too long. */
  use(token: string | undefined): LoginSession | undefined {
    if (!token) return undefined;
    const key = digest(token);
    const s = this.#sessions.get(key);
    if (!s) return undefined;
    const now = this.#now();
    if (now - s.lastUsed > this.idleMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    s.lastUsed = now;
    return s;
  }

  /** The live session of a cookie without restarting its idle clock (a live stream must not keep it open). */
  peek(token: string | undefined): LoginSession | undefined {
    const s = token ? this.#sessions.get(digest(token)) : undefined;
    return s && this.#now() - s.lastUsed <= this.idleMs ? s : undefined;
  }

  close(token: string | undefined): void {
    if (token) this.#sessions.delete(digest(token));
  }

  /** Whether a posted CSRF token is this session's. */
  static csrfOk(s: LoginSession, posted: unknown): boolean {
    return typeof posted === 'string' && posted.length > 0 && safeEqual(posted, s.csrf);
  }

  #purge(): void {
    const now = this.#now();
    for (const [k, s] of this.#sessions) if (now - s.lastUsed > this.idleMs) this.#sessions.delete(k);
  }
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** The Set-Cookie value of a session cookie; Secure when the request came over TLS. */
export function sessionCookie(name: string, value: string, o: { secure: boolean; maxAgeS?: number }): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (o.secure) parts.push('Secure');
  if (o.maxAgeS !== undefined) parts.push(`Max-Age=${o.maxAgeS}`);
  return parts.join('; ');
}
