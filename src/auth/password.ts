/**
 * Password hashes: scrypt from Node's crypto (OpenSSL's implementation: well
 * kept, nothing to add), with a random salt and the parameters stored beside
 * the hash, so they can be raised later without breaking stored accounts.
 *
 *   scrypt$N$r$p$SALT$HASH     (salt and hash in base64)
 *
 * N=2^15, r=8, p=3 is one of OWASP's equivalent minimum settings: 32 MiB and
 * a tenth of a second or so per check, for a login that happens rarely.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PARAMS = { N: 2 ** 15, r: 8, p: 3 };
const KEY_BYTES = 32;
// A stored hash asking for more than this is refused instead of computed (a tampered database).
const MAX_N = 2 ** 20;

const derive = (password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 };
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches a stored hash; false for a hash it cannot read. Constant time in the comparison. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!(N >= 2 && N <= MAX_N && (N & (N - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return false;
  const want = Buffer.from(m[5]!, 'base64');
  if (want.length !== KEY_BYTES) return false;
  const got = await derive(password, Buffer.from(m[4]!, 'base64'), { N, r, p });
  return timingSafeEqual(got, want);
}

/** What a password must be: long enough to resist the guesses the throttle still lets through. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 8) return 'a password needs at least 8 characters';
  if (password.length > 1024) return 'a password has at most 1024 characters';
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'a password may not hold control characters (a boot console could not type them)';
  return undefined;
}
