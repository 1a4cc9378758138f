/**
 * The boot scripts as TFTP virtual files, for sites where iPXE cannot use
 * HTTP: `boot.ipxe`, `hosts/aa-bb-cc-dd-ee-ff.ipxe` (the per-host decision)
 * and `auth/MAC/MODE/IMAGE/USER/PASSWORD.ipxe` (a menu login; TFTP has no
 * query strings, so the parameters are path segments, URI-encoded by iPXE).
 * For the signed chain, GRUB's configuration: Debian's netboot GRUB reads
 * `grub/grub.cfg` (its prefix is /grub on the server that served it), which
 * sources `grub/hosts/aa:bb:cc:dd:ee:ff.cfg` (GRUB's $net_default_mac).
 */
import type { VirtualFiles } from '../tftp/provider.ts';
import { tftpTransport, type BootFace } from './boot-face.ts';
import { parseMac } from '../state/hosts.ts';
import { clientAddress } from '../auth/login-guard.ts';

const HOST = /^hosts\/([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.ipxe$/i;
const GRUB_HOST = /^grub\/hosts\/([0-9a-f]{2}(?::[0-9a-f]{2}){5})\.cfg$/i;
const GRUB_CHAIN = new Set(['grub/grub.cfg', 'grub/x86_64-efi/grub.cfg']);
const AUTH = /^auth\/([0-9a-f-]{17})\/([a-z]+)\/([^/]+)\/([^/]+)\/([^/]+)\.ipxe$/i;

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

export function tftpBootScripts(face: BootFace, tftpBase: string): VirtualFiles {
  const t = tftpTransport(tftpBase);
  return async (path, ctx) => {
    // The address alone: the login throttle and the session's binding key on it.
    const from = clientAddress(ctx.client.address);
    if (path === 'boot.ipxe') return Buffer.from(await face.boot(t, undefined, from));
    if (GRUB_CHAIN.has(path)) return Buffer.from(await face.grub(undefined, from));
    const grubHost = GRUB_HOST.exec(path);
    if (grubHost) return Buffer.from(await face.grub(parseMac(grubHost[1]), from));
    const host = HOST.exec(path);
    if (host) return Buffer.from(await face.boot(t, parseMac(host[1]), from));
    const a = AUTH.exec(path);
    if (a) return Buffer.from(await face.login(t, { mac: parseMac(a[1]), mode: a[2]!, image: decode(a[3]!), username: decode(a[4]!), password: decode(a[5]!) }, from));
    return undefined;
  };
}
