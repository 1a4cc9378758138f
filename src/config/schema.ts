/**
 * The one configuration: every key, its type, its default and its checks.
 * A JSON file (`--config FILE`) gives values, flags override them, and the
 * result is validated once and frozen. Keys are the flags in camelCase.
 */
import { z } from 'zod';
import { DEFAULT_BUSY_POLL_MS } from '../tftp/busy-poll.ts';
import { NAME_PATTERN } from '../shared/format.ts';

const ipv4 = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'an IPv4 address such as 192.168.1.10');
const port = z.number().int().min(1).max(65535);
const portOrOff = z.union([port, z.literal('off')]);
/** A file in --boot-dir named in the boot script and on the kernel line: no spaces, no iPXE characters. */
const bootFile = z.string().regex(/^[A-Za-z0-9._+-][A-Za-z0-9._+/-]*$/, 'a file name in --boot-dir (letters, digits and . _ - + /)');

/** `FIRST-LAST` read once, here: the rest of the server gets the two addresses. */
const pool = z.string().transform((text, ctx) => {
  const [first, last, ...more] = text.split('-');
  if (more.length || !ipv4.safeParse(first).success || !ipv4.safeParse(last).success) {
    ctx.issues.push({ code: 'custom', input: text, message: 'FIRST-LAST, two IPv4 addresses such as 10.0.0.100-10.0.0.200' });
    return z.NEVER;
  }
  if (toInt(first!) > toInt(last!)) {
    ctx.issues.push({ code: 'custom', input: text, message: `the pool's first address ${first} is after its last ${last}` });
    return z.NEVER;
  }
  return { first: first!, last: last! };
});

export const serveSchema = z
  .object({
    /** Address the sockets listen on. */
    listen: ipv4.default('0.0.0.0'),
    /** Network interface to serve; DHCP answers only there (required for full DHCP on a multi-homed host). */
    interface: z.string().min(1).optional(),
    /** Address clients are told to fetch from; default: the interface's (or the only) IPv4 address. */
    serverIp: ipv4.optional(),
    /** proxy: beside the site's DHCP server, boot info only. full: hand out addresses (isolated networks). off: no DHCP. */
    dhcp: z.enum(['proxy', 'full', 'off']).default('proxy'),
    dhcpPort: port.default(67),
    /** PXE boot-server port (PXE 2.1 §2.2.8). */
    proxyPort: port.default(4011),
    /** Full mode: FIRST-LAST addresses to hand out; parsed into { first, last }. */
    pool: pool.optional(),
    /** Full mode: subnet mask; default: the interface's. */
    subnetMask: ipv4.optional(),
    /** Full mode: default gateway handed to clients. */
    router: ipv4.optional(),
    /** Full mode: DNS servers handed to clients. */
    dns: z.array(ipv4).default([]),
    /** Full mode: domain name handed to clients. */
    domain: z.string().min(1).max(200).optional(),
    /** Full mode: lease time in seconds. */
    leaseTime: z.number().int().min(60).max(31_536_000).default(3600),
    tftpPort: portOrOff.default(69),
    /**
     * Milliseconds the TFTP server keeps polling for the next ACK after each block
     * instead of sleeping: about 2× the lock-step speed, for one busy core while
     * transfers run. 0: sleep between packets.
     */
    tftpBusyPoll: z.number().int().min(0).max(1000).default(DEFAULT_BUSY_POLL_MS),
    httpPort: portOrOff.default(8080),
    /**
     * TLS for the API (see http/tls.ts). off: plain HTTP only. auto: a self-signed
     * certificate made on first start beside the state, reused after. Given
     * tlsCert and tlsKey, TLS is on with them.
     */
    tls: z.enum(['off', 'auto']).optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** The HTTPS port, when TLS is on. */
    httpsPort: port.default(8443),
    /** Started as root: bind the ports, then run as this user (and its groups). */
    user: z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, 'a user name such as netrestore').optional(),
    /** Boot files (iPXE binaries, kernel, initrd) served over TFTP and HTTP. */
    bootDir: z.string().min(1).default('boot-assets/dist'),
    /** The image store. */
    images: z.string().min(1).default('images'),
    /** SQLite database: hosts, leases, tasks, history. */
    state: z.string().min(1).default('netrestore.db'),
    /** Token for the admin API, capture and publish over HTTP; generated on first start when not given. */
    adminToken: z.string().min(12, 'at least 12 characters').optional(),
    /** Menu title shown after F12. */
    menuTitle: z.string().min(1).max(60).default('netrestore'),
    /** Seconds the menu waits before it boots the local disk. */
    menuTimeout: z.number().int().min(1).max(3600).default(10),
    /**
     * The entry chosen when the timeout runs out: "local" (the local disk), "shell",
     * "capture", or an image name. Anything but local waits at the login prompt, so
     * a machine that boots from the network first no longer comes back by itself.
     */
    menuDefault: z.string().regex(NAME_PATTERN, 'local, shell, capture or an image name').default('local'),
    /** User name and password for restore, capture and shell entries; without a password, the admin token is the password. */
    menuUser: z.string().min(1).default('admin'),
    menuPassword: z.string().min(8, 'at least 8 characters').optional(),
    /**
     * What UEFI x64 PXE clients boot: the signed chain (shim, GRUB; boots with Secure Boot on or off) or iPXE.
     * Unset: the signed chain in full mode, iPXE in proxy mode (see defaultUefiBoot).
     */
    uefiBoot: z.enum(['shim', 'ipxe']).optional(),
    /** A folder with the admin's own copies of menu.ipxe.hbs and friends. */
    menuTemplates: z.string().min(1).optional(),
    /** Kernel and initrd of the restore environment, in --boot-dir. */
    kernel: bootFile.default('vmlinuz'),
    initrd: bootFile.default('initrd.img'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Seconds a stop (SIGTERM) waits for running transfers before it cuts them. */
    stopTimeout: z.number().int().min(0).max(3600).default(30),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.dhcp === 'full' && !c.pool) {
      ctx.addIssue({ code: 'custom', path: ['pool'], message: 'full DHCP mode needs an address pool: --pool FIRST-LAST' });
    }
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.tlsCert ? 'tlsKey' : 'tlsCert'], message: 'give the certificate and its key together: --tls-cert FILE --tls-key FILE' });
    }
    if (c.tlsCert && c.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: `--tls ${c.tls} and --tls-cert exclude each other: the certificate given turns TLS on` });
    if (c.tls === 'auto' || c.tlsCert) {
      if (c.httpPort === 'off') ctx.addIssue({ code: 'custom', path: ['httpPort'], message: 'TLS serves the API beside the HTTP face, which iPXE needs: HTTP cannot be off' });
      else if (c.httpPort === c.httpsPort) ctx.addIssue({ code: 'custom', path: ['httpsPort'], message: 'must differ from httpPort' });
    }
    if (c.dhcp !== 'off' && c.dhcpPort === c.proxyPort) {
      ctx.addIssue({ code: 'custom', path: ['proxyPort'], message: 'must differ from dhcpPort' });
    }
  });

function toInt(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

export type ServeConfig = Readonly<z.infer<typeof serveSchema>>;

/** TLS is on: asked for with --tls auto, or a certificate given. */
export const tlsOn = (c: Pick<ServeConfig, 'tls' | 'tlsCert'>): boolean => c.tls === 'auto' || c.tlsCert !== undefined;
export type PoolRange = NonNullable<ServeConfig['pool']>;
