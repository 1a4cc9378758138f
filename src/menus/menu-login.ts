/**
 * Who may pass the boot menu's login (restore, capture and shell entries).
 *
 * With local accounts (`netrestore users add`), an account and its
 * password, and its role says which entries it may start (auth/roles.ts:
 * viewers none). Without any account yet, as before accounts existed: the
 * configured menu user, with the menu password, or with the admin token when
 * no menu password is set; that login counts as an admin.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServeConfig } from '../config/schema.ts';
import { authenticateUser, type UserLookup } from '../auth/login.ts';
import type { Role } from '../auth/roles.ts';

/** Constant time whatever the lengths: both sides are hashed first. */
const sameSecret = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

export type MenuLogin = { ok: true; user: string | null; role: Role } | { ok: false; knownUser: boolean };

export interface MenuAccounts extends UserLookup {
  count(): number;
}

export function menuLogin(c: Pick<ServeConfig, 'menuUser' | 'menuPassword'>, isAdminToken: (password: string) => boolean, accounts?: MenuAccounts): (username: string, password: string) => Promise<MenuLogin> {
  const password = c.menuPassword;
  return async (user, given) => {
    if (accounts && accounts.count() > 0) {
      const u = await authenticateUser(accounts, user, given);
      return u ? { ok: true, user: u.name, role: u.role } : { ok: false, knownUser: accounts.credentials(user) !== undefined };
    }
    const ok = user === c.menuUser && (password !== undefined ? sameSecret(given, password) : isAdminToken(given));
    return ok ? { ok: true, user: null, role: 'admin' } : { ok: false, knownUser: user === c.menuUser };
  };
}
