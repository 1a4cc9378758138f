/**
 * The boot face for a serve configuration: built whenever DHCP may send iPXE
 * to it, that is when HTTP or TFTP serves boot scripts (boot-face.ts says what
 * a TFTP-only face offers). Undefined when no address is known to give iPXE.
 */
import type { ServeConfig } from '../config/schema.ts';
import type { BootUrls } from '../dhcp/boot-urls.ts';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import type { HostStore } from '../state/hosts.ts';
import type { TaskStore } from '../state/tasks.ts';
import type { SessionStore } from '../state/sessions.ts';
import type { AuditLog } from '../state/audit.ts';
import type { UserStore } from '../state/users.ts';
import type { LoginGuard } from '../auth/login-guard.ts';
import { BootFace } from './boot-face.ts';
import { menuLogin } from './menu-login.ts';
import { Renderer } from './render.ts';
import { GrubRenderer } from './grub-render.ts';

export interface BootFaceDeps {
  /** null: no address for iPXE (no DHCP, no --server-ip, listening on 0.0.0.0). */
  urls: BootUrls | null;
  /** The image store, when HTTP runs. */
  store: ImageStore | undefined;
  hosts: HostStore;
  tasks: TaskStore;
  sessions: SessionStore;
  audit: AuditLog;
  log: Logger;
  isAdminToken: (token: string) => boolean;
  /** Local accounts: once there is one, the menu takes accounts only. */
  users?: UserStore;
  /** The login throttle, shared with the API's logins. */
  loginGuard?: LoginGuard;
  /** With TLS on: the certificate's `sha256:HEX`; the environment then talks to urls.https. */
  fingerprint?: string | undefined;
}

export function bootFaceFor(c: ServeConfig, d: BootFaceDeps): BootFace | undefined {
  if (c.httpPort === 'off' && c.tftpPort === 'off') return undefined;
  if (!d.urls) {
    d.log.warn('boot.no-boot-face', { reason: 'no address to give iPXE: set --server-ip to serve boot menus' });
    return undefined;
  }
  if (c.menuDefault !== 'local') d.log.warn('menu.default-not-local', { default: c.menuDefault, note: 'after the timeout the menu waits at the login prompt: machines that boot from the network first will not come back by themselves' });
  if (d.users && d.users.count() > 0 && c.menuPassword !== undefined) d.log.warn('menu.password-unused', { note: 'local accounts exist: the menu takes accounts only, --menu-password and --menu-user are not used; remove them from the configuration' });
  if (!d.urls.http) d.log.warn('boot.tftp-only', { note: 'HTTP is off: the boot menu offers the local disk and the restore shell; restore and capture need --http-port' });
  return new BootFace({
    http: d.urls.http && d.store ? { apiBase: d.urls.https ?? d.urls.http, fingerprint: d.urls.https ? d.fingerprint : undefined, store: d.store } : undefined,
    hosts: d.hosts,
    tasks: d.tasks,
    sessions: d.sessions,
    audit: d.audit,
    renderer: new Renderer(c.menuTemplates),
    grubRenderer: new GrubRenderer(c.menuTemplates),
    settings: { title: c.menuTitle, timeoutSeconds: c.menuTimeout, defaultEntry: c.menuDefault, kernel: c.kernel, initrd: c.initrd },
    log: d.log,
    checkLogin: menuLogin(c, d.isAdminToken, d.users),
    loginGuard: d.loginGuard,
  });
}
