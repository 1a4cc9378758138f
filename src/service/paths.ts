/**
 * Where an installed netrestore keeps things (a checkout keeps its own
 * relative defaults: images/, netrestore.db, boot-assets/dist). Pure.
 */
import { join } from 'node:path';

export const INSTALLED = {
  /** The code: a copy of the package, with its own node_modules (`npm ci --omit=dev`). */
  prefix: '/opt/netrestore',
  /** A wrapper that runs the installed code with the installed configuration. */
  command: '/usr/local/bin/netrestore',
  configDir: '/etc/netrestore',
  config: '/etc/netrestore/config.json',
  stateDir: '/var/lib/netrestore',
  images: '/var/lib/netrestore/images',
  bootDir: '/var/lib/netrestore/boot',
  state: '/var/lib/netrestore/netrestore.db',
  unit: '/etc/systemd/system/netrestore.service',
  sysusers: '/usr/lib/sysusers.d/netrestore.conf',
} as const;

/** The service user the unit runs as. */
export const SERVICE_USER = 'netrestore';

/**
 * The default configuration file an install writes: the standard paths and
 * the safe defaults (ProxyDHCP beside the site's DHCP server). Every key is
 * one of config/schema.ts's; a test validates it there.
 */
export function defaultConfig(): Record<string, unknown> {
  return {
    dhcp: 'proxy',
    tftpPort: 69,
    httpPort: 8080,
    bootDir: INSTALLED.bootDir,
    images: INSTALLED.images,
    state: INSTALLED.state,
    menuTitle: 'netrestore',
    menuTimeout: 10,
    logLevel: 'info',
  };
}

/** A path of the installed layout under `root` (`--root DIR`: a system image, a test's directory). */
export function under(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}
