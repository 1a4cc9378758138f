/**
 * What the route guard (auth.ts) checks callers against, from the state
 * database and the image store, with two small caches so that the checks
 * cost nothing per request:
 *
 *   - an account's good login is remembered for a few minutes (scrypt takes
 *     a tenth of a second on purpose: a script calling the API with Basic
 *     should not pay it on every call). The entry is keyed on the stored
 *     hash too, so a changed password or a removed account ends it at once,
 *     also when `netrestore users` changed it from another process.
 *   - an image's chunk set, for a restore session's chunk reads, is kept a
 *     little while (a restore asks for thousands of chunks).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { imageChunks } from '../shared/format.ts';
import type { ImageStore } from '../images/store.ts';
import { authenticateUser } from '../auth/login.ts';
import { LoginGuard } from '../auth/login-guard.ts';
import type { State } from '../state/stores.ts';
import type { Credentials } from './auth.ts';

const LOGIN_CACHE_MS = 5 * 60_000;
const LOGIN_CACHE_MAX = 256;
const CHUNKS_CACHE_MS = 30_000;
const CHUNKS_CACHE_MAX = 4;

/** A map that forgets its oldest entry past `max`. */
function remember<K, V>(m: Map<K, V>, k: K, v: V, max: number): void {
  m.delete(k);
  m.set(k, v);
  while (m.size > max) m.delete(m.keys().next().value!);
}

export function apiCredentials(o: { state: State; store: ImageStore; isAdmin: (token: string) => boolean; loginGuard?: LoginGuard | undefined; now?: () => number }): Credentials {
  const now = o.now ?? Date.now;
  const { users } = o.state;
  const key = randomBytes(32);
  const logins = new Map<string, number>();
  const chunkSets = new Map<string, { at: number; set: ReadonlySet<string> }>();

  return {
    isAdmin: o.isAdmin,
    sessions: o.state.sessions,
    loginGuard: o.loginGuard ?? new LoginGuard(),
    audit: o.state.audit,
    now,
    knownUser: (name) => users.get(name) !== undefined,
    async login(name, password) {
      const stored = users.credentials(name);
      const id = stored && createHmac('sha256', key).update(`${name}\0${password}\0${stored.password}`).digest('base64');
      const until = id ? logins.get(id) : undefined;
      if (stored && until !== undefined && until > now()) return { name: stored.name, role: stored.role };
      const user = await authenticateUser(users, name, password);
      if (user && id) remember(logins, id, now() + LOGIN_CACHE_MS, LOGIN_CACHE_MAX);
      return user;
    },
    async chunksOf(image) {
      const hit = chunkSets.get(image);
      if (hit && now() - hit.at < CHUNKS_CACHE_MS) return hit.set;
      const m = await o.store.readManifest(image).catch(() => undefined);
      if (!m) return undefined;
      const set = new Set(imageChunks(m));
      remember(chunkSets, image, { at: now(), set }, CHUNKS_CACHE_MAX);
      return set;
    },
  };
}
