/**
 * The HTTP boot face: what iPXE asks after DHCP.
 *
 *   GET /boot.ipxe?mac=…    the per-host decision as an iPXE script (menu, task, or local disk)
 *   GET /auth.ipxe?…        a menu login: checked, slowed down after failures, and on
 *                           success the environment's kernel with a short-lived token
 *   POST /console-login     { mac, mode, image, username, password }: the login GRUB cannot
 *                           ask for, from the agent's console: { token } or { error }, always
 *                           200 like /auth.ipxe (a refusal is an answer, not a failed request)
 *   GET /boot/NAME          boot files (kernel, initrd, iPXE EFI images, the add-ons
 *                           addons/NAME.cpio.zst the agent fetches to grow XFS/btrfs) from --boot-dir:
 *                           streamed, Range and HEAD, confined to the directory
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from '../log.ts';
import { addressOf, RouteTable } from './auth.ts';
import { input } from './reply.ts';
import { bootQuery, loginQuery } from './schemas.ts';
import { httpTransport, type BootFace } from '../menus/boot-face.ts';
import { DirectoryProvider } from '../tftp/provider.ts';
import { isNetrestoreError } from '../shared/errors.ts';

export interface BootRoutesOptions {
  base: string;
  bootDir: string;
  face: BootFace;
  log: Logger;
}

export function bootRoutes(o: BootRoutesOptions): RouteTable {
  const r = new RouteTable();
  const files = new DirectoryProvider(o.bootDir);
  const transport = httpTransport(o.base);
  const script = (res: Response, text: string) => res.type('text/plain; charset=utf-8').set('cache-control', 'no-store').send(text);

  r.get('/boot.ipxe', 'public', async (req: Request, res: Response) => {
    script(res, await o.face.boot(transport, input(bootQuery, req.query, 'query').mac, addressOf(req)));
  });

  r.get('/auth.ipxe', 'public', async (req: Request, res: Response) => {
    script(res, await o.face.login(transport, input(loginQuery, req.query, 'query'), addressOf(req)));
  });

  r.post('/console-login', 'public', express.json({ limit: '4kb' }), async (req: Request, res: Response) => {
    const b = input(loginQuery, req.body ?? {}, 'body');
    res.set('cache-control', 'no-store').json(await o.face.consoleLogin(b, req.ip ?? '?'));
  });

  r.get(/^\/boot\/(.+)$/, 'public', async (req: Request, res: Response) => {
    const name = decodeURIComponent(String((req.params as Record<string, string>)[0]));
    let real: string;
    try {
      real = await files.resolve(name);
    } catch (err) {
      const denied = isNetrestoreError(err, 'BOOT_FILE_DENIED');
      o.log.info('http.boot-file-refused', { file: name, from: req.ip, reason: (err as Error).message });
      return void res.status(denied ? 403 : 404).type('text/plain').send(denied ? 'access denied\n' : 'not found\n');
    }
    res.sendFile(real, { dotfiles: 'allow', headers: { 'cache-control': 'no-cache' } }, (err) => {
      if (err && !res.headersSent) res.status(500).end();
    });
  });

  return r;
}
