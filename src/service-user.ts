/**
 * `serve --user NAME`: started as root, the service binds its ports (DHCP 67
 * and 4011, TFTP 69, HTTP 80 and 443), reads its TLS key, then becomes NAME
 * for good: supplementary groups, group, then user. Linux clears every
 * capability on that last step, so nothing after start can bind a low port or
 * open a raw socket; a listener that must be opened again later (an
 * interface that comes back) needs the systemd way instead: `User=` with
 * `AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW` (README, Security).
 *
 * What the service writes after that must be the user's: the state database
 * (and its -wal, -shm) and the image store are given to it before the switch;
 * a folder the user cannot reach stops start-up with a sentence saying which.
 */
import { execa } from 'execa';
import { chownSync, existsSync, lstatSync, lchownSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NetrestoreError } from './shared/errors.ts';

export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
  /** Its primary and supplementary groups. */
  groups: number[];
}

/** The user from the system's user database (getent: local files, LDAP, whatever NSS says). */
export async function lookupUser(name: string): Promise<ServiceUser> {
  const r = await execa('getent', ['passwd', name], { reject: false });
  const [, , uid, gid] = r.exitCode === 0 ? r.stdout.trim().split(':') : [];
  if (uid === undefined || gid === undefined) {
    throw new NetrestoreError('SERVICE_USER', `--user ${name}: there is no such user; create one with \`useradd --system --home-dir /var/lib/netrestore --shell /usr/sbin/nologin ${name}\``);
  }
  const ids = await execa('id', ['-G', name], { reject: false });
  const groups = ids.exitCode === 0 ? ids.stdout.trim().split(/\s+/).map(Number).filter(Number.isInteger) : [];
  return { name, uid: Number(uid), gid: Number(gid), groups: groups.length ? groups : [Number(gid)] };
}

/** Whether start-up has to switch at all: refused when not root and not already that user. */
export function mustSwitch(user: ServiceUser, uid = process.getuid!()): boolean {
  if (uid === user.uid) return false;
  if (uid !== 0) throw new NetrestoreError('SERVICE_USER', `--user ${user.name} needs serve started as root (it runs as uid ${uid}): start it with sudo, or leave --user out`);
  return true;
}

/** Run `test FLAG path` as the user: what the kernel will allow it, parent folders included. */
async function userCan(user: ServiceUser, flag: '-w' | '-r', path: string): Promise<boolean> {
  const r = await execa('test', [flag, path, '-a', '-x', path], { uid: user.uid, gid: user.gid, reject: false });
  return r.exitCode === 0;
}

/** Everything under `dir` (itself included) that is not the user's becomes the user's; symbolic links are not followed. */
function giveTree(dir: string, user: ServiceUser): number {
  let changed = 0;
  const give = (path: string) => {
    const st = lstatSync(path);
    if (st.uid === user.uid && st.gid === user.gid) return;
    lchownSync(path, user.uid, user.gid);
    changed++;
  };
  give(dir);
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) give(join(e.parentPath, e.name));
  return changed;
}

/**
 * Give the user what it writes: the state database and its WAL files (the
 * folder must let it make them), the whole image store. The boot files and
 * templates need only be readable. Returns how many entries changed owner.
 */
export async function prepareForUser(user: ServiceUser, p: { state: string; images: string; readable: string[] }): Promise<number> {
  const stateDir = dirname(resolve(p.state));
  if (!(await userCan(user, '-w', stateDir))) {
    throw new NetrestoreError('SERVICE_USER', `user ${user.name} cannot write the folder of the state database, ${stateDir}: give it one of its own (mkdir -p /var/lib/netrestore && chown ${user.name}: /var/lib/netrestore, then --state /var/lib/netrestore/netrestore.db)`);
  }
  let changed = 0;
  for (const f of [p.state, `${p.state}-wal`, `${p.state}-shm`]) {
    if (existsSync(f) && lstatSync(f).uid !== user.uid) {
      chownSync(f, user.uid, user.gid);
      changed++;
    }
  }
  // No store when HTTP is off.
  if (existsSync(p.images)) changed += giveTree(p.images, user);
  if (existsSync(p.images) && !(await userCan(user, '-w', p.images))) {
    throw new NetrestoreError('SERVICE_USER', `user ${user.name} cannot reach the image store ${resolve(p.images)}: a folder above it is closed to that user (chmod o+x it), or put the store under /var/lib/netrestore`);
  }
  for (const dir of p.readable) {
    if (existsSync(dir) && !(await userCan(user, '-r', dir))) {
      throw new NetrestoreError('SERVICE_USER', `user ${user.name} cannot read ${resolve(dir)}: make it and the folders above it readable to that user (chmod o+rx)`);
    }
  }
  return changed;
}

/** Become the user for good, and prove it: a way back to root is a failure. */
export function becomeUser(user: ServiceUser): void {
  process.setgroups!(user.groups);
  process.setgid!(user.gid);
  process.setuid!(user.uid);
  let back = false;
  try {
    process.setuid!(0);
    back = true;
  } catch {
    // expected: no way back
  }
  if (back) throw new NetrestoreError('SERVICE_USER', `after switching to ${user.name} the process could become root again; refusing to run like that`);
}
