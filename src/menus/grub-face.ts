/**
 * The boot decision (boot-plan.ts) as a GRUB configuration, for machines on
 * the signed chain (shim → Debian's netboot GRUB → Debian's kernel). Pure:
 * the plan, host, images and a task's session token come in.
 *
 * Debian 12's netboot GRUB reads `grub/grub.cfg` over TFTP from the server
 * that served it and has no HTTP (no http.mod in the signed image, and
 * under Secure Boot it loads no module from the network): the kernel and
 * initrd come over TFTP, from the boot directory. GRUB cannot ask the
 * server about a password, so menu entries boot the environment with
 * `netrestore.login=console` and no token: the agent's console asks for the
 * login before it lists anything. A task carries its token: no login.
 */
import type { Host } from '../state/hosts.ts';
import { kernelCmdline, menuContext, type BootPlan, type ImageSummary, type MenuSettings } from './boot-plan.ts';
import type { GrubRenderer } from './grub-render.ts';

export interface GrubInput {
  plan: BootPlan;
  mac: string | undefined;
  host: Host | undefined;
  /** The images the menu offers (none when HTTP is off). */
  images: ImageSummary[];
  settings: MenuSettings;
  /** The HTTP base the restore environment talks to; undefined when HTTP is off. */
  apiBase: string | undefined;
  /** A task's session token (plan.kind === 'task' with HTTP on). */
  taskToken: string | null;
}

const args = (cmdline: string) => cmdline.split(' ');

export function grubConfig(r: GrubRenderer, i: GrubInput): string {
  const { plan, settings } = i;
  switch (plan.kind) {
    case 'chain':
      return r.render('grub-chain', {});
    case 'ignored':
      return r.render('grub-message', { reason: 'host marked ignore', message: 'netrestore: this machine is set to ignore; booting from the local disk', delaySeconds: 3 });
    case 'task': {
      const t = plan.task;
      const server = i.apiBase && i.taskToken ? { base: i.apiBase, token: i.taskToken } : null;
      return r.render('grub-environment', {
        mode: t.kind,
        image: t.image,
        mac: i.mac,
        task: t.id,
        kernel: settings.kernel,
        initrd: settings.initrd,
        args: args(kernelCmdline({ server, mode: t.kind, image: t.image, task: t.id, disk: t.disk })),
        loading: `Loading the netrestore environment (${t.kind} ${t.image ?? ''})...`,
        failed: `Could not load the netrestore environment (${settings.kernel}, ${settings.initrd}) over TFTP: check the boot directory on the server.`,
      });
    }
    case 'menu': {
      const s = i.host?.menuTimeout ? { ...settings, timeoutSeconds: i.host.menuTimeout } : settings;
      const restores = i.apiBase !== undefined;
      const ctx = menuContext({ mac: i.mac!, hostName: i.host?.name, images: i.images, settings: s, restores, notice: plan.notice });
      // No token: the console asks for the login (netrestore.login=console).
      const env = (mode: string, image: string | null) => args(kernelCmdline({ server: i.apiBase ? { base: i.apiBase, token: null } : null, mode, image }));
      return r.render('grub-menu', {
        ...ctx,
        // Without HTTP the GRUB menu has the local disk only (below).
        defaultEntry: restores ? ctx.defaultEntry : 'local',
        kernel: s.kernel,
        initrd: s.initrd,
        localTitle: 'Boot from local disk',
        localMessage: 'Booting from local disk',
        backTitle: 'Back',
        images: ctx.images.map((m) => ({
          ...m,
          title: `Restore ${m.name}  ${m.description} (${m.created}, ${m.size})${m.danger ? ` [${m.role}]` : ''} - login at the console`,
          confirm: `Restore ${m.name} anyway (login at the console)`,
          loading: `Loading the netrestore environment to restore ${m.name}...`,
          args: env('restore', m.name),
        })),
        // Without HTTP there is no login to ask for: the local disk only (the iPXE menu checks the shell's login over TFTP).
        others: restores
          ? [
              { id: 'capture', title: 'Capture this machine as a new image (login at the console)', loading: 'Loading the netrestore environment to capture...', args: env('capture', null) },
              { id: 'shell', title: 'Restore shell (login at the console)', loading: 'Loading the netrestore environment...', args: env('shell', null) },
            ]
          : [],
      });
    }
  }
}
