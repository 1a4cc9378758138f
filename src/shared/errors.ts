/**
 * Every error a user can meet, with a stable code and a sentence that says
 * what to do. Match errors by `code` (isNetrestoreError(err, 'CODE')), never
 * by `instanceof` of a class of their own: a bundle can load this module twice,
 * so the brand is a registered symbol (as undici's and fastify's errors).
 *
 * CATALOGUE is the one table of codes: when each happens and what to do.
 * README.md's "Error codes" table repeats it (test/unit/errors.test.ts keeps
 * the two, and this union, in step). To add a code: a line in the union, a row
 * in CATALOGUE, a row in README.md.
 */

const BRAND = Symbol.for('netrestore.error');

export type ErrorCode =
  | 'USAGE'
  | 'INTERNAL'
  | 'CONFIG_INVALID'
  | 'CONFIG_FILE'
  | 'PORT_IN_USE'
  | 'PORT_PRIVILEGED'
  | 'INTERFACE_UNKNOWN'
  | 'ADDRESS_UNAVAILABLE'
  | 'MULTI_HOMED'
  | 'BIND_TO_DEVICE'
  | 'SOCKET'
  | 'STATE_DB'
  | 'STORE_UNUSABLE'
  | 'IMAGE_NAME'
  | 'DISK_PATH'
  | 'HOST_NAME'
  | 'USED_MAP'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_EXISTS'
  | 'IMAGE_DAMAGED'
  | 'MANIFEST_INVALID'
  | 'SOURCE_NOT_FOUND'
  | 'SOURCE_UNREADABLE'
  | 'SOURCE_FORMAT'
  | 'DISK_READ'
  | 'ARCHIVE_INVALID'
  | 'ARCHIVE_DAMAGED'
  | 'TARGET_INVALID'
  | 'TARGET_IN_USE'
  | 'TARGET_NOT_CONFIRMED'
  | 'TARGET_TOO_SMALL'
  | 'DISK_FAILING'
  | 'SERVER_UNREACHABLE'
  | 'TOKEN_REFUSED'
  | 'SERVER_ERROR'
  | 'CMDLINE_INVALID'
  | 'BOOT_FILE_NOT_FOUND'
  | 'BOOT_FILE_DENIED'
  | 'BUILD_ENV'
  | 'INSTALL'
  | 'BACKUP'
  | 'BAD_REQUEST'
  | 'DRILL'
  | 'GROW_FAILED'
  | 'MINIMAL_FORM'
  | 'TLS_SETUP'
  | 'TLS_FINGERPRINT'
  | 'TLS_UNTRUSTED'
  | 'HTTPS_REQUIRED'
  | 'SERVICE_USER';

export interface CatalogueEntry {
  /** When it happens. */
  when: string;
  /** What to do. */
  fix: string;
}

/** The catalogue: one row per code. README.md's "Error codes" table says the same. */
export const CATALOGUE: Readonly<Record<ErrorCode, CatalogueEntry>> = {
  USAGE: { when: 'a command was given an unknown option, a missing argument or a value it does not take', fix: 'read the line printed, then `netrestore <command> --help`' },
  INTERNAL: { when: 'an error netrestore did not expect (a bug, or the system failing under it)', fix: 'run again with --debug (or NETRESTORE_DEBUG=1) and report the stack it prints' },
  CONFIG_INVALID: { when: 'a value in the configuration file or a flag is not valid', fix: 'fix the key or flag the message names' },
  CONFIG_FILE: { when: 'the --config file cannot be read or is not JSON', fix: 'check the path and the JSON syntax' },
  PORT_IN_USE: { when: 'another program listens on a port serve needs', fix: 'stop it (find it with `ss -lunp`) or pick another port with the flag named' },
  PORT_PRIVILEGED: { when: 'serve may not listen on a port below 1024', fix: 'run as root, grant cap_net_bind_service, or pick a port above 1023' },
  INTERFACE_UNKNOWN: { when: '--interface names no interface of this machine, or one without an IPv4 address', fix: 'pick one from `ip -br addr`' },
  ADDRESS_UNAVAILABLE: { when: '--listen or --server-ip is not an address of this machine', fix: 'pick an address from `ip -br addr`' },
  MULTI_HOMED: { when: 'full DHCP was asked for on a machine with several networks, without --interface', fix: 'name it with --interface' },
  BIND_TO_DEVICE: { when: 'the DHCP socket cannot be tied to --interface', fix: 'run as root or grant cap_net_raw' },
  SOCKET: { when: 'a socket cannot be opened for another reason', fix: 'read the system error in the message' },
  STATE_DB: { when: 'the state database (--state) cannot be opened or is damaged', fix: 'check the path and its permissions, or restore it from a backup' },
  STORE_UNUSABLE: { when: 'the image store (--images) cannot be created, read or written', fix: 'check the path and its permissions' },
  IMAGE_NAME: { when: 'an image name has characters other than letters, digits, dot, dash and underscore', fix: 'choose a name like `web-2024.1`' },
  DISK_PATH: { when: 'a task\'s disk is not a device name like sda, /dev/nvme0n1 or /dev/disk/by-id/…: it has spaces, shell or iPXE characters, or a .. segment', fix: 'name the disk as the restore environment lists it (`lsblk`), e.g. /dev/sda' },
  HOST_NAME: { when: 'a host name is longer than 64 characters or has characters other than letters, digits, space and . _ - ( ) + ,', fix: 'choose a name like `web01` or `Accounting PC 3`' },
  IMAGE_NOT_FOUND: { when: 'no image has that name in the store', fix: 'see `netrestore images list`' },
  IMAGE_EXISTS: { when: 'an image with that name is already published', fix: 'choose another name, or remove the old one with `netrestore images rm`' },
  IMAGE_DAMAGED: { when: 'an image lacks a chunk, or a chunk changed, in the store', fix: 'run `netrestore images verify`, then import the image from an export or publish it again' },
  MANIFEST_INVALID: { when: "an image's manifest is not valid JSON or not a netrestore manifest", fix: 'the manifest is damaged: import the image from an export or publish it again' },
  SOURCE_NOT_FOUND: { when: 'the disk to publish or capture does not exist', fix: 'check the path' },
  SOURCE_UNREADABLE: { when: 'the disk to publish or capture cannot be opened or read (permissions, or qemu-img and qemu-nbd fail on it)', fix: 'check the file and its permissions, and that qemu-utils is installed' },
  SOURCE_FORMAT: { when: 'the disk is in a format netrestore cannot read', fix: 'convert it with qemu-img to raw or qcow2' },
  DISK_READ: { when: 'a disk ended before its size said, or was cut off while being read', fix: 'check the disk and run again' },
  ARCHIVE_INVALID: { when: 'the input of `images import` is not a netrestore export', fix: 'give it a file written by `netrestore images export`' },
  ARCHIVE_DAMAGED: { when: 'an export is truncated, or a chunk in it fails its checksum', fix: 'use another copy of the export' },
  TARGET_INVALID: { when: 'the restore target is not a disk: a missing or non-block device under /dev, a directory, a character device', fix: 'name one of the disks the message lists, or a file outside /dev (--create-file makes one anywhere)' },
  TARGET_IN_USE: { when: 'a file system of the restore target is mounted', fix: 'unmount it first; netrestore never writes a disk in use' },
  TARGET_NOT_CONFIRMED: { when: 'the restore target holds data and nobody confirmed overwriting it', fix: 'confirm with --yes, or type yes at the prompt' },
  TARGET_TOO_SMALL: { when: 'the restore target is smaller than the smallest disk the image restores onto (`minTargetBytes` in `images show`)', fix: 'restore to a disk at least that large' },
  DISK_FAILING: { when: 'the restore target could not be written, or reads back different', fix: 'check the disk (it may be failing or full), then restore again or use another disk' },
  SERVER_UNREACHABLE: { when: 'the agent got no answer from the server', fix: 'check that `netrestore serve` runs and is reachable at --server' },
  TOKEN_REFUSED: { when: 'the server refused the token', fix: 'pass the admin token with --token or NETRESTORE_TOKEN' },
  SERVER_ERROR: { when: 'the server refused a request for another reason', fix: 'read the reason in the message, and the server log' },
  CMDLINE_INVALID: { when: 'the kernel command line of the restore environment lacks or mangles netrestore.* options', fix: 'boot the environment from the netrestore menu' },
  BOOT_FILE_NOT_FOUND: { when: 'a PXE client asked for a boot file that is not in --boot-dir', fix: 'run `netrestore build-env`, or check --boot-dir' },
  BOOT_FILE_DENIED: { when: 'a PXE client asked for a path outside --boot-dir, or in a mode not supported', fix: 'none on the server: the client asked for something it may not have' },
  BUILD_ENV: { when: '`netrestore build-env` lacks a tool or a kernel', fix: 'install what the message names' },
  INSTALL: { when: '`netrestore install` cannot put the service in place (not root, a path it cannot write)', fix: 'run it as root, or with --root DIR for a directory you can write' },
  BACKUP: { when: '`netrestore backup` cannot write its file, or `backup --restore` is given a file that is not a netrestore backup or would overwrite a server in use', fix: 'read the reason in the message: stop the service before a restore, or pass --force over existing state' },
  USED_MAP: { when: "a filesystem's used-block map (partclone's domain map) cannot be read", fix: 'nothing: the partition is kept whole and the image says why; `images show` names it' },
  BAD_REQUEST: { when: "an HTTP request's body, query or path is not what the API takes", fix: "fix the request; the answer's `error` names the field" },
  GROW_FAILED: { when: 'after a restore onto a larger disk, the last partition or its filesystem could not grow', fix: 'nothing is lost: the disk is as the image was; grow it later with the tool the warning names' },
  MINIMAL_FORM: { when: 'the smaller form of an image (its last filesystem shrunk on a copy) cannot be made', fix: 'the image still restores onto disks of its own size; the message names the reason' },
  DRILL: { when: 'a drill cannot start (not root, no restore environment)', fix: 'do what the message says, e.g. run `netrestore build-env` first' },
  TLS_SETUP: { when: 'serve cannot use the TLS certificate or key (--tls-cert, --tls-key), or cannot make its self-signed one with openssl', fix: 'check both files are PEM and belong together, or install openssl for --tls auto' },
  TLS_FINGERPRINT: { when: "the server's certificate does not have the fingerprint given (--fingerprint, netrestore.tls=); nothing was sent to it", fix: 'check that --server names your netrestore server, and take the fingerprint from its `https.listening` log line' },
  TLS_UNTRUSTED: { when: "an https:// server's certificate cannot be verified and no fingerprint was given", fix: "pass --fingerprint sha256:… from the server's `https.listening` log line" },
  HTTPS_REQUIRED: { when: 'the API was called over plain HTTP on a server that serves it over HTTPS only', fix: "use the https:// address and the fingerprint from the server's `https.listening` log line" },
  SERVICE_USER: { when: 'serve cannot run as --user: no such user, not started as root, or the user cannot write the state or the image store', fix: 'do what the message says: create the user, start serve as root, or give the user the folder it names' },
};

/** Codes for input the user gave wrong: the command line exits 2 for these, 1 for every other. */
export const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['USAGE', 'IMAGE_NAME', 'DISK_PATH', 'HOST_NAME', 'CONFIG_INVALID', 'CMDLINE_INVALID']);

export class NetrestoreError extends Error {
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'NetrestoreError';
  }

  /** `instanceof` by brand, so that two copies of this module agree; still, match by code. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && BRAND in x;
  }
}

export function isNetrestoreError(err: unknown, code?: ErrorCode): err is NetrestoreError {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false;
  return code === undefined || (err as NetrestoreError).code === code;
}

/**
 * Turn a failed bind() into the one-line error an admin can act on.
 * `what` names the service ("DHCP", "TFTP" …), `flag` the option that moves it.
 */
export function bindError(err: unknown, what: string, address: string, port: number, flag: string): NetrestoreError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${address}:${port}`;
  if (code === 'EADDRINUSE') {
    return new NetrestoreError(
      'PORT_IN_USE',
      `${what} cannot listen on ${where}: the port is already in use by another program ` +
        `(find it with \`ss -lunp 'sport = :${port}'\`), stop it or pick another port with ${flag}`,
      { cause: err },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new NetrestoreError(
      'PORT_PRIVILEGED',
      `${what} cannot listen on ${where}: permission denied; run as root, or grant the capability ` +
        `with \`setcap cap_net_bind_service,cap_net_raw=ep $(readlink -f node_modules/.bin/node)\`, or pick a port above 1023 with ${flag}`,
      { cause: err },
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new NetrestoreError(
      'ADDRESS_UNAVAILABLE',
      `${what} cannot listen on ${where}: no interface of this machine has that address; check --listen`,
      { cause: err },
    );
  }
  return new NetrestoreError('SOCKET', `${what} cannot listen on ${where}: ${(err as Error)?.message ?? err}`, { cause: err });
}
