/**
 * The HTTP boot face: what iPXE asks after DHCP.
 *
 *   GET /boot.ipxe?mac=…    the per-host decision as an iPXE script (menu, task, or local disk)
 *   GET /auth.ipxe?…        a menu login: checked, slowed down after failures, and on
 *                           success the environment's kernel with a short-lived token
 *   GET /boot/NAME          boot files (kernel, initrd, iPXE EFI images) from --boot-dir:
 *                           streamed, Range and HEAD, confined to the directory
 */
import express, { type Request, type Response } from 'express';
import { NAME_PATTERN } from '../images/format.ts';
import type { FileStore } from '../images/store.ts';
import type { Logger } from '../log.ts';
import { kernelCmdline, menuContext, parseMac, planBoot, type MenuSettings } from '../menus/boot-plan.ts';
import { LoginGuard } from '../menus/login-guard.ts';
import type { Renderer } from '../menus/render.ts';
import type { HostStore } from '../state/hosts.ts';
import type { TaskStore } from '../state/tasks.ts';
import { DirectoryProvider, ProviderError } from '../tftp/provider.ts';

export interface BootRoutesOptions {
  base: string;
  bootDir: string;
  store: FileStore;
  hosts: HostStore;
  tasks: TaskStore;
  renderer: Renderer;
  settings: MenuSettings;
  log: Logger;
  /** Checks a menu login. */
  checkLogin: (username: string, password: string) => boolean;
  /** How long a boot session's token lives: long enough for a large restore. */
  sessionMs?: number;
  now?: () => number;
}

const MODES = new Set(['restore', 'capture', 'shell']);

export function bootRoutes(o: BootRoutesOptions): express.Router {
  const r = express.Router();
  const now = o.now ?? Date.now;
  const guard = new LoginGuard();
  const sessionMs = o.sessionMs ?? 12 * 3600_000;
  const files = new DirectoryProvider(o.bootDir);
  const script = (res: Response, text: string) => res.type('text/plain; charset=utf-8').set('cache-control', 'no-store').send(text);
  const message = (res: Response, reason: string, msg: string, extra: { delaySeconds?: number; back?: boolean } = {}) =>
    script(res, o.renderer.render('message', { base: o.base, reason, message: msg, ...extra }));

  r.get('/boot.ipxe', async (req: Request, res: Response) => {
    const mac = parseMac(req.query.mac);
    if (mac) o.hosts.seen(mac, now());
    const host = mac ? o.hosts.get(mac) : undefined;
    const task = mac ? o.tasks.current(mac) : undefined;
    const plan = planBoot(mac, host, task);
    o.log.info('boot.decision', { mac, plan: plan.kind, task: plan.kind === 'task' ? plan.task.id : undefined, from: req.ip });
    switch (plan.kind) {
      case 'chain':
        return void script(res, o.renderer.render('chain', { base: o.base }));
      case 'ignored':
        return void message(res, 'host marked ignore', 'netrestore: this machine is set to ignore; booting from the local disk');
      case 'task': {
        // Authorised when the admin made the task: no menu, no login.
        const t = plan.task;
        const token = o.tasks.openSession({ mac: mac!, mode: t.kind, image: t.image, task: t.id }, sessionMs);
        return void script(res, environment(t.kind, mac!, t.image, t.id, t.disk, token));
      }
      case 'menu': {
        const images = await o.store.listManifests();
        // A host may have its own timeout (a machine that must wait for someone at the console, say).
        const settings = host?.menuTimeout ? { ...o.settings, timeoutSeconds: host.menuTimeout } : o.settings;
        return void script(res, o.renderer.render('menu', menuContext({ base: o.base, mac: mac!, hostName: host?.name, images, settings, notice: plan.notice })));
      }
    }
  });

  r.get('/auth.ipxe', async (req: Request, res: Response) => {
    const mac = parseMac(req.query.mac);
    const mode = String(req.query.mode ?? '');
    const image = String(req.query.image ?? '');
    if (!mac || !MODES.has(mode)) return void message(res, 'bad login request', 'netrestore: this login request is incomplete', { delaySeconds: 3, back: true });
    const wait = guard.wait(mac, now());
    if (wait > 0) return void message(res, 'too many attempts', `Too many wrong logins from this machine: wait ${wait} s`, { delaySeconds: wait, back: true });
    if (!o.checkLogin(String(req.query.username ?? ''), String(req.query.password ?? ''))) {
      const delay = guard.failed(mac, now());
      o.tasks.audit(`host ${mac}`, 'login-failed', `mode ${mode}`);
      o.log.warn('boot.login-failed', { mac, mode, from: req.ip, nextWaitSeconds: delay });
      return void message(res, 'wrong login', 'Wrong user name or password', { delaySeconds: 2, back: true });
    }
    guard.succeeded(mac);
    if (mode === 'restore' && (!NAME_PATTERN.test(image) || !(await o.store.readManifest(image)))) {
      return void message(res, 'no such image', `There is no image named ${image}`, { delaySeconds: 3, back: true });
    }
    o.tasks.audit(`host ${mac}`, 'login', `mode ${mode}${image ? ` image ${image}` : ''}`);
    o.log.info('boot.login', { mac, mode, image: image || undefined, from: req.ip });
    const token = o.tasks.openSession({ mac, mode, image: image || null, task: null }, sessionMs);
    script(res, environment(mode, mac, image || null, null, null, token));
  });

  r.get(/^\/boot\/(.+)$/, async (req: Request, res: Response) => {
    const name = decodeURIComponent(String((req.params as Record<string, string>)[0]));
    let real: string;
    try {
      real = await files.resolve(name);
    } catch (err) {
      const denied = err instanceof ProviderError && err.kind === 'access';
      o.log.info('http.boot-file-refused', { file: name, from: req.ip, reason: (err as Error).message });
      return void res.status(denied ? 403 : 404).type('text/plain').send(denied ? 'access denied\n' : 'not found\n');
    }
    res.sendFile(real, { dotfiles: 'allow', headers: { 'cache-control': 'no-cache' } }, (err) => {
      if (err && !res.headersSent) res.status(500).end();
    });
  });

  function environment(mode: string, mac: string, image: string | null, task: number | null, disk: string | null, token: string): string {
    return o.renderer.render('environment', {
      base: o.base,
      mode,
      mac,
      image,
      task,
      kernel: o.settings.kernel,
      initrd: o.settings.initrd,
      cmdline: kernelCmdline({ base: o.base, token, mode, image, task, disk }),
    });
  }

  return r;
}
