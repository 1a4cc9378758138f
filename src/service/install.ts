/**
 * `netrestore install [--root DIR]`: put the service in place. The code is
 * copied to /opt/netrestore (its node_modules come from `npm ci --omit=dev`
 * there), the systemd unit and the sysusers.d entry next to the system's, a
 * default configuration in /etc/netrestore (never over an existing one), the
 * state directories under /var/lib/netrestore. With --root the same layout
 * goes under DIR (a system image, a test) and no user is created: the
 * sysusers.d entry creates it when that system boots.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { INSTALLED, SERVICE_USER, defaultConfig, under } from './paths.ts';

const SOURCE = resolve(import.meta.dirname, '../..');

/** What of the package goes to /opt/netrestore: package.json's "files", the manifest, the lock (npm ci needs it), the README. */
const APP_ENTRIES = ['bin', 'src', 'native', 'scripts', 'boot-assets', 'packaging', 'package.json', 'package-lock.json', 'README.md'];

export interface InstallOptions {
  root: string;
  /** Create the service user now (only when installing into /). */
  createUser: boolean;
  log: (line: string) => void;
}

export interface InstallReport {
  root: string;
  written: string[];
  /** Files left as they were (an existing configuration). */
  kept: string[];
  user: 'created' | 'skipped';
  next: string[];
}

export async function install(o: InstallOptions): Promise<InstallReport> {
  const root = resolve(o.root);
  if (root === '/' && process.getuid?.() !== 0) throw new NetrestoreError('INSTALL', 'installing into / needs root: run it with sudo, or give --root DIR');
  const at = (p: string) => under(root, p);
  const written: string[] = [];
  const kept: string[] = [];
  try {
    // The code: replaced as a whole (an upgrade), node_modules kept for npm ci to reuse.
    const prefix = at(INSTALLED.prefix);
    await mkdir(prefix, { recursive: true });
    for (const entry of APP_ENTRIES) {
      const from = join(SOURCE, entry);
      if (!existsSync(from)) continue;
      await rm(join(prefix, entry), { recursive: true, force: true });
      // Built boot files and the native addon's build are the checkout's, not the package's.
      await cp(from, join(prefix, entry), { recursive: true, filter: (f) => !relative(SOURCE, f).startsWith('boot-assets/dist') });
    }
    written.push(INSTALLED.prefix);

    await put(at(INSTALLED.command), `#!/bin/sh\n# netrestore as installed: the code in ${INSTALLED.prefix}, the configuration in ${INSTALLED.config}.\nexport NETRESTORE_CONFIG="\${NETRESTORE_CONFIG:-${INSTALLED.config}}"\nexec ${INSTALLED.prefix}/bin/netrestore "$@"\n`, 0o755);
    written.push(INSTALLED.command);
    await mkdir(dirname(at(INSTALLED.unit)), { recursive: true });
    await copyFile(join(SOURCE, 'packaging/netrestore.service'), at(INSTALLED.unit));
    written.push(INSTALLED.unit);
    await mkdir(dirname(at(INSTALLED.sysusers)), { recursive: true });
    await copyFile(join(SOURCE, 'packaging/netrestore.sysusers'), at(INSTALLED.sysusers));
    written.push(INSTALLED.sysusers);

    await mkdir(at(INSTALLED.configDir), { recursive: true, mode: 0o750 });
    if (existsSync(at(INSTALLED.config))) kept.push(INSTALLED.config);
    else {
      // 0640: the admin may add adminToken or menuPassword here.
      await put(at(INSTALLED.config), JSON.stringify(defaultConfig(), null, 2) + '\n', 0o640);
      written.push(INSTALLED.config);
    }
    for (const d of [INSTALLED.stateDir, INSTALLED.images, INSTALLED.bootDir]) {
      await mkdir(at(d), { recursive: true });
      await chmod(at(d), 0o750);
    }
    written.push(INSTALLED.stateDir);
  } catch (err) {
    if (err instanceof NetrestoreError) throw err;
    throw new NetrestoreError('INSTALL', `cannot install under ${root}: ${(err as Error).message}`, { cause: err });
  }

  let user: InstallReport['user'] = 'skipped';
  if (o.createUser && root === '/') {
    await execa('systemd-sysusers', [INSTALLED.sysusers]).catch((err: Error) => {
      throw new NetrestoreError('INSTALL', `cannot create the user ${SERVICE_USER} with systemd-sysusers: ${err.message}`, { cause: err });
    });
    // systemd also hands /var/lib/netrestore to the user at start (StateDirectory=); this is for a serve run by hand.
    const { stdout } = await execa('id', ['-u', SERVICE_USER]);
    const { stdout: gid } = await execa('id', ['-g', SERVICE_USER]);
    await execa('chown', ['-R', `${SERVICE_USER}:${SERVICE_USER}`, INSTALLED.stateDir]);
    await chown(INSTALLED.config, 0, Number(gid)).catch(() => undefined);
    await chown(INSTALLED.configDir, 0, Number(gid)).catch(() => undefined);
    o.log(`user ${SERVICE_USER} (uid ${stdout.trim()}) owns ${INSTALLED.stateDir}`);
    user = 'created';
  }
  const next = [
    `cd ${INSTALLED.prefix} && npm ci --omit=dev`,
    `netrestore build-env --out ${INSTALLED.bootDir}`,
    'systemctl daemon-reload && systemctl enable --now netrestore',
  ];
  return { root, written, kept, user, next };
}

async function put(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { mode });
  await chmod(path, mode);
}
