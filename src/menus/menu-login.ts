/**
 * Who may pass the boot menu's login (restore, capture and shell entries):
 * the configured menu user, with the menu password, or with the admin token
 * when no menu password is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServeConfig } from '../config/schema.ts';

/** Constant time whatever the lengths: both sides are hashed first. */
const sameSecret = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

export function menuLogin(c: Pick<ServeConfig, 'menuUser' | 'menuPassword'>, isAdminToken: (password: string) => boolean): (username: string, password: string) => boolean {
  const password = c.menuPassword;
  return (user, given) => user === c.menuUser && (password !== undefined ? sameSecret(given, password) : isAdminToken(given));
}
