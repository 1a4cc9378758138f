/**
 * What a machine that asks for /boot.ipxe gets: the one decision the HTTP
 * and TFTP faces only ask. Pure: host, task and images come in as data.
 */
import type { Host } from '../state/hosts.ts';
import type { Task } from '../state/tasks.ts';
import { needsConfirmation, type Role } from '../shared/format.ts';
import { formatBytes } from '../shared/progress.ts';

export interface MenuSettings {
  title: string;
  timeoutSeconds: number;
  /** "local", "shell", "capture" or an image name. */
  defaultEntry: string;
  kernel: string;
  initrd: string;
}

export interface ImageSummary {
  name: string;
  description: string;
  created: string;
  role: Role;
  warnings: string[];
  source: { size: number };
}

export type BootPlan =
  | { kind: 'chain' }
  | { kind: 'ignored' }
  | { kind: 'menu'; notice?: string }
  | { kind: 'task'; task: Task };

/** `restores`: the HTTP face runs, so the restore environment can reach the images (see boot-face.ts). */
export function planBoot(mac: string | undefined, host: Host | undefined, task: Task | undefined, restores: boolean): BootPlan {
  if (!mac) return { kind: 'chain' };
  if (host?.ignore) return { kind: 'ignored' };
  if (task?.state === 'pending' && !restores) {
    // Left pending: it runs once the server is started with HTTP.
    return { kind: 'menu', notice: `Task ${task.id} (${task.kind} ${task.image}) waits for HTTP on the server (--http-port), which is off` };
  }
  if (task?.state === 'pending') return { kind: 'task', task };
  if (task?.state === 'started') {
    // The agent began and never reported back: no automatic second attempt (no restore loop).
    return { kind: 'menu', notice: `Task ${task.id} (${task.kind} ${task.image}) started but did not finish; cancel it or choose again` };
  }
  return { kind: 'menu' };
}

export interface MenuContext {
  defaultEntry: string;
  restores: boolean;
  host: { mac: string; name: string };
  title: string;
  timeoutMs: number;
  timeoutSeconds: number;
  notice: string | undefined;
  images: { name: string; description: string; created: string; size: string; role: Role; danger: boolean; warnings: string[] }[];
}

/** `restores` false: no images and no capture entry, only the local disk and the restore shell. */
export function menuContext(o: { mac: string; hostName: string | null | undefined; images: ImageSummary[]; settings: MenuSettings; restores: boolean; notice?: string | undefined }): MenuContext {
  const images = o.restores ? o.images : [];
  const entries = o.restores ? ['local', 'shell', 'capture'] : ['local', 'shell'];
  // The default must name an entry that exists, else the local disk.
  const imageIndex = images.findIndex((m) => m.name === o.settings.defaultEntry);
  const defaultEntry = entries.includes(o.settings.defaultEntry) ? o.settings.defaultEntry : imageIndex >= 0 ? `img${imageIndex}` : 'local';
  return {
    defaultEntry,
    restores: o.restores,
    host: { mac: o.mac, name: o.hostName ?? '' },
    title: `${o.settings.title} - ${o.hostName ? `${o.hostName} ` : ''}${o.mac}`,
    timeoutMs: o.settings.timeoutSeconds * 1000,
    timeoutSeconds: o.settings.timeoutSeconds,
    notice: o.notice,
    images: images.map((m) => ({
      name: m.name,
      description: m.description || 'no description',
      created: m.created.slice(0, 10),
      size: formatBytes(m.source.size),
      role: m.role,
      danger: needsConfirmation(m.role),
      warnings: m.warnings,
    })),
  };
}

/**
 * The kernel command line the restore environment reads. Without a server
 * (HTTP off) only the shell can run: init stops there before the agent.
 * A null token (GRUB, which cannot check a login): the agent's console asks
 * for the login and gets its token from the server.
 */
export function kernelCmdline(o: { server: { base: string; token: string | null; tls?: string | undefined } | null; mode: string; image?: string | null; task?: number | null; disk?: string | null }): string {
  return [
    ...(o.server ? [`netrestore.server=${o.server.base}`, ...(o.server.tls ? [`netrestore.tls=${o.server.tls}`] : []), o.server.token === null ? 'netrestore.login=console' : `netrestore.token=${o.server.token}`] : []),
    `netrestore.mode=${o.mode}`,
    ...(o.image ? [`netrestore.image=${o.image}`] : []),
    ...(o.task ? [`netrestore.task=${o.task}`] : []),
    ...(o.disk ? [`netrestore.disk=${o.disk}`] : []),
    'quiet',
    'console=tty0',
    'console=ttyS0,115200',
  ].join(' ');
}
