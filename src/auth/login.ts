/** A user's login, for the boot menu, the admin API and the web console alike. */
import type { Role } from './roles.ts';
import { verifyPassword } from './password.ts';

/** What a login needs of the account store (state/users.ts UserStore has it). */
export interface UserLookup {
  credentials(name: string): { name: string; role: Role; password: string } | undefined;
}

// Checked against when the name is unknown, so that a wrong name costs as long as a wrong password.
const DECOY = 'scrypt$32768$8$3$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/** The account a name and password stand for, or undefined. Never says which of the two was wrong. */
export async function authenticateUser(users: UserLookup, name: string, password: string): Promise<{ name: string; role: Role } | undefined> {
  const u = name ? users.credentials(name) : undefined;
  const ok = await verifyPassword(password, u?.password ?? DECOY);
  return u && ok ? { name: u.name, role: u.role } : undefined;
}
