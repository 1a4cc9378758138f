/**
 * The boot scripts a machine gets after iPXE starts, the same over HTTP and
 * over TFTP (for sites where iPXE cannot use HTTP). A `Transport` says how
 * the scripts refer back to the server; everything else is one decision.
 *
 * With HTTP off and TFTP on the face still runs, since DHCP sends iPXE to
 * tftp://…/boot.ipxe then. The kernel and initrd load over TFTP as usual,
 * but the agent in the restore environment reads and writes images only
 * over HTTP, so that menu offers the local disk and the restore shell (init
 * stops at the shell before the agent); restore and capture, from the menu
 * or from a task, say they need --http-port instead of failing later.
 */
import { NAME_PATTERN } from '../shared/format.ts';
import { isDiskPath } from '../shared/names.ts';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import type { HostStore } from '../state/hosts.ts';
import type { TaskStore } from '../state/tasks.ts';
import type { SessionLimits, SessionStore } from '../state/sessions.ts';
import type { AuditLog } from '../state/audit.ts';
import { kernelCmdline, menuContext, planBoot, type MenuSettings } from './boot-plan.ts';
import { LoginGuard } from '../auth/login-guard.ts';
import { may } from '../auth/roles.ts';
import type { MenuLogin } from './menu-login.ts';
import { grubConfig } from './grub-face.ts';
import { GrubRenderer } from './grub-render.ts';
import type { Renderer } from './render.ts';

/** iPXE URLs of one face; `${…}` parts are expanded by iPXE on the client. */
export interface Transport {
  /** This machine's boot script. */
  self: string;
  /** The login check, with ${mode}, ${image}, ${username}, ${password}. */
  auth: string;
  /** Folder URL of kernel and initrd. */
  files: string;
}

export function httpTransport(base: string): Transport {
  return {
    self: `${base}/boot.ipxe?mac=\${net0/mac}`,
    auth: `${base}/auth.ipxe?mac=\${net0/mac}&mode=\${mode}&image=\${image}&username=\${username:uristring}&password=\${password:uristring}`,
    files: `${base}/boot`,
  };
}

/** TFTP has no query strings: the parameters are path segments of virtual files. */
export function tftpTransport(base: string): Transport {
  return {
    self: `${base}/hosts/\${net0/mac:hexhyp}.ipxe`,
    auth: `${base}/auth/\${net0/mac:hexhyp}/\${mode}/\${image}/\${username:uristring}/\${password:uristring}.ipxe`,
    files: base,
  };
}

export interface BootFaceOptions {
  /**
   * The HTTP face: the base the restore environment talks to (its images API)
   * and the images the menu offers. Undefined when HTTP is off (see above).
   */
  http: { apiBase: string; store: ImageStore; fingerprint?: string | undefined } | undefined;
  hosts: HostStore;
  tasks: TaskStore;
  sessions: SessionStore;
  audit: AuditLog;
  renderer: Renderer;
  /** The GRUB configurations of the signed chain (grub-face.ts). */
  grubRenderer?: GrubRenderer;
  settings: MenuSettings;
  log: Logger;
  checkLogin: (username: string, password: string) => Promise<MenuLogin>;
  /** The login throttle, shared with the API's logins (keyed by source address). */
  loginGuard?: LoginGuard | undefined;
  sessionLimits?: SessionLimits;
  now?: () => number;
}

export interface LoginRequest {
  mac: string | undefined;
  mode: string;
  image: string;
  username: string;
  password: string;
}

const MODES = new Set(['restore', 'capture', 'shell']);

export class BootFace {
  readonly #o: BootFaceOptions;
  readonly #guard: LoginGuard;
  readonly #now: () => number;

  constructor(o: BootFaceOptions) {
    this.#o = o;
    this.#guard = o.loginGuard ?? new LoginGuard();
    this.#now = o.now ?? Date.now;
  }

  #message(t: Transport, reason: string, message: string, extra: { delaySeconds?: number; back?: boolean } = {}): string {
    return this.#o.renderer.render('message', { self: t.self, reason, message, ...extra });
  }

  #environment(t: Transport, mode: string, mac: string, image: string | null, task: number | null, disk: string | null, who: { user: string | null; from: string }): string {
    const o = this.#o;
    // The session token opens what this one restore or capture needs of the images API (auth/access.ts): no HTTP, no session.
    // With TLS the agent is told the certificate's fingerprint beside the https:// base (restore-agent/tls-agent.ts).
    const server = o.http ? { base: o.http.apiBase, tls: o.http.fingerprint, token: o.sessions.open({ mac, mode, image, task, user: who.user, issuedTo: who.from }, o.sessionLimits, this.#now()) } : null;
    if (server) o.log.secret(server.token, true); // it goes on the kernel command line, never into the log
    return o.renderer.render('environment', {
      self: t.self,
      files: t.files,
      mode,
      mac,
      image,
      task,
      kernel: o.settings.kernel,
      initrd: o.settings.initrd,
      cmdline: kernelCmdline({ server, mode, image, task, disk }),
    });
  }

  /** The script for `mac` (undefined: ask the machine to come back with its MAC). */
  async boot(t: Transport, mac: string | undefined, from: string): Promise<string> {
    const o = this.#o;
    if (mac) o.hosts.seen(mac, this.#now());
    const host = mac ? o.hosts.get(mac) : undefined;
    const plan = planBoot(mac, host, mac ? o.tasks.current(mac) : undefined, o.http !== undefined);
    o.log.info('boot.decision', { mac, plan: plan.kind, task: plan.kind === 'task' ? plan.task.id : undefined, from });
    switch (plan.kind) {
      case 'chain':
        return o.renderer.render('chain', { self: t.self });
      case 'ignored':
        return this.#message(t, 'host marked ignore', 'netrestore: this machine is set to ignore; booting from the local disk');
      case 'task':
        // Checked when the task was made; a row written by hand or by an older version is checked again here.
        if (!NAME_PATTERN.test(plan.task.image) || (plan.task.disk !== null && !isDiskPath(plan.task.disk))) {
          o.log.warn('boot.task-invalid', { mac, task: plan.task.id, image: plan.task.image, disk: plan.task.disk });
          return this.#message(t, 'invalid task', `netrestore: task ${plan.task.id} names an image or disk that is not valid: cancel it and make it again`, { delaySeconds: 10 });
        }
        // Authorised when the admin made the task: no menu, no login.
        return this.#environment(t, plan.task.kind, mac!, plan.task.image, plan.task.id, plan.task.disk, { user: null, from });
      case 'menu': {
        // A host may have its own timeout (a machine that must wait for someone at the console, say).
        const settings = host?.menuTimeout ? { ...o.settings, timeoutSeconds: host.menuTimeout } : o.settings;
        const images = o.http ? await o.http.store.listManifests() : [];
        const context = menuContext({ mac: mac!, hostName: host?.name, images, settings, restores: o.http !== undefined, notice: plan.notice });
        return o.renderer.render('menu', { ...context, self: t.self, auth: t.auth });
      }
    }
  }

  /** The same decision as `boot`, as GRUB's configuration (the signed chain; grub-face.ts). */
  async grub(mac: string | undefined, from: string): Promise<string> {
    const o = this.#o;
    if (mac) o.hosts.seen(mac, this.#now());
    const host = mac ? o.hosts.get(mac) : undefined;
    const plan = planBoot(mac, host, mac ? o.tasks.current(mac) : undefined, o.http !== undefined);
    o.log.info('boot.decision', { mac, plan: plan.kind, task: plan.kind === 'task' ? plan.task.id : undefined, from, chain: 'grub' });
    const t = plan.kind === 'task' ? plan.task : undefined;
    // A task's session opens its one image, as in the iPXE script (auth/access.ts); it goes on the kernel command line, never into the log.
    const taskToken = t && o.http ? o.sessions.open({ mac: mac!, mode: t.kind, image: t.image, task: t.id, user: null, issuedTo: from }, o.sessionLimits, this.#now()) : null;
    if (taskToken) o.log.secret(taskToken, true);
    return grubConfig(o.grubRenderer ?? new GrubRenderer(), {
      plan,
      mac,
      host,
      images: plan.kind === 'menu' && o.http ? await o.http.store.listManifests() : [],
      settings: o.settings,
      apiBase: o.http?.apiBase,
      taskToken,
    });
  }

  /**
   * What every menu login goes through, from iPXE or from the agent's console: the slow-down by source
   * address (the MAC in the request is whatever the client writes there), the login, the role's right to
   * the entry; failures and refusals audited and logged. A refusal says why in a sentence for the screen.
   */
  async #check(r: LoginRequest, from: string, via: 'ipxe' | 'console'): Promise<{ ok: true; user: string | null; who: string } | { ok: false; title: string; text: string; delaySeconds: number }> {
    const o = this.#o;
    const mode = via === 'console' ? `mode ${r.mode} (console)` : `mode ${r.mode}`;
    const chain = via === 'console' ? 'grub' : undefined;
    const wait = this.#guard.wait(from, this.#now());
    if (wait > 0) return { ok: false, title: 'too many attempts', text: `Too many wrong logins from this machine: wait ${wait} s`, delaySeconds: wait };
    const login = await o.checkLogin(r.username, r.password);
    if (!login.ok) {
      const delay = this.#guard.failed(from, this.#now());
      // The name only when it is an account's: a password typed into the name field must not reach the log.
      const who = login.knownUser ? `user ${r.username}` : 'an unknown user name';
      o.audit.record({ actor: `host ${r.mac} (${from})`, action: 'login-failed', mac: r.mac, detail: `${mode}, ${who}; next try in ${delay} s` });
      o.log.warn('boot.login-failed', { mac: r.mac, mode: r.mode, from, user: login.knownUser ? r.username : undefined, nextWaitSeconds: delay, chain });
      return { ok: false, title: 'wrong login', text: 'Wrong user name or password', delaySeconds: 2 };
    }
    this.#guard.succeeded(from);
    const who = login.user ?? 'menu user';
    if (!may(login.role, `${r.mode as 'restore' | 'capture' | 'shell'}.start`)) {
      o.audit.record({ actor: `host ${r.mac} (${from})`, action: 'login-refused', mac: r.mac, detail: `${mode}, user ${who} (${login.role})` });
      o.log.warn('boot.login-refused', { mac: r.mac, mode: r.mode, from, user: who, role: login.role, chain });
      return { ok: false, title: 'not allowed', text: `The account ${who} (${login.role}) may not start a ${r.mode}`, delaySeconds: 3 };
    }
    return { ok: true, user: login.user, who };
  }

  /** A login let in: audited and logged. */
  #loggedIn(r: LoginRequest, image: string, from: string, who: string, via: 'ipxe' | 'console'): void {
    const o = this.#o;
    o.audit.record({ actor: `host ${r.mac} (${from})`, action: 'login', mac: r.mac, image: image || null, detail: `${via === 'console' ? `mode ${r.mode} (console)` : `mode ${r.mode}`}, user ${who}` });
    o.log.info('boot.login', { mac: r.mac, mode: r.mode, image: image || undefined, from, user: who, chain: via === 'console' ? 'grub' : undefined });
  }

  /**
   * The login GRUB cannot ask for, from the agent's console (netrestore.login=console):
   * the same check as a menu login (#check); a session token on success.
   */
  async consoleLogin(r: LoginRequest, from: string): Promise<{ token: string } | { error: string }> {
    const o = this.#o;
    const image = r.image === '-' || r.mode === 'shell' ? '' : r.image;
    if (!o.http) return { error: 'the server has no images API (--http-port is off)' };
    if (!r.mac || !MODES.has(r.mode)) return { error: 'this login request is incomplete' };
    const c = await this.#check(r, from, 'console');
    if (!c.ok) return { error: c.text.charAt(0).toLowerCase() + c.text.slice(1) };
    if (image && !NAME_PATTERN.test(image)) return { error: `not an image name: ${image.slice(0, 100)} (letters, digits, dot, dash, underscore)` };
    this.#loggedIn(r, image, from, c.who, 'console');
    const token = o.sessions.open({ mac: r.mac, mode: r.mode, image: image || null, task: null, user: c.user, issuedTo: from }, o.sessionLimits, this.#now());
    o.log.secret(token, true);
    return { token };
  }

  /** A menu login: checked, slowed down after failures, then the environment. */
  async login(t: Transport, r: LoginRequest, from: string): Promise<string> {
    const o = this.#o;
    // The shell takes no image; restore and capture take a name that may go on the kernel command line.
    const image = r.image === '-' || r.mode === 'shell' ? '' : r.image;
    if (!r.mac || !MODES.has(r.mode)) return this.#message(t, 'bad login request', 'netrestore: this login request is incomplete', { delaySeconds: 3, back: true });
    if (!o.http && r.mode !== 'shell') {
      return this.#message(t, 'no HTTP face', `netrestore: ${r.mode} needs HTTP on the server (--http-port), which is off`, { delaySeconds: 5, back: true });
    }
    const c = await this.#check(r, from, 'ipxe');
    if (!c.ok) return this.#message(t, c.title, c.text, { delaySeconds: c.delaySeconds, back: true });
    // A capture session may publish the name it is given only: it must be one.
    if (r.mode === 'capture' && image !== '' && !NAME_PATTERN.test(image)) {
      return this.#message(t, 'bad image name', `Not an image name: ${image.slice(0, 100)} (letters, digits, dot, dash, underscore)`, { delaySeconds: 3, back: true });
    }
    if (r.mode === 'restore' && (!NAME_PATTERN.test(image) || !(await o.http?.store.readManifest(image)))) {
      return this.#message(t, 'no such image', `There is no image named ${image}`, { delaySeconds: 3, back: true });
    }
    this.#loggedIn(r, image, from, c.who, 'ipxe');
    return this.#environment(t, r.mode, r.mac, image || null, null, null, { user: c.user, from });
  }
}
