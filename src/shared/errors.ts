/**
 * Every error a user can meet, with a stable code and a sentence that says
 * what to do. Match errors by `code`, never by `instanceof`: a bundle can load
 * this module twice, so the brand is a registered symbol.
 */

const BRAND = Symbol.for('netrestore.error');

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_FILE'
  | 'PORT_IN_USE'
  | 'PORT_PRIVILEGED'
  | 'INTERFACE_UNKNOWN'
  | 'ADDRESS_UNAVAILABLE'
  | 'MULTI_HOMED'
  | 'BIND_TO_DEVICE'
  | 'STATE_DB'
  | 'SOCKET'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE'
  | 'IMAGE_NAME'
  | 'USED_MAP'
  | 'TARGET'
  | 'TARGET_TOO_SMALL'
  | 'DISK_READ'
  | 'USAGE'
  | 'BUILD_ENV'
  | 'DRILL';

export class NetrestoreError extends Error {
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'NetrestoreError';
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
