/**
 * Where a booting machine reaches this server: the one place that builds the
 * http://, https:// and tftp:// bases, for DHCP's boot file names and for the boot
 * scripts alike, so both spell the same URL. A default port (80, 69) is left
 * out. Pure.
 */

export interface BootEndpoint {
  /** The address clients are told to fetch from. */
  serverIp: string;
  /** null when the HTTP face is off. */
  httpPort: number | null;
  /** null when TFTP is off. */
  tftpPort: number | null;
  /** null when TLS is off. */
  httpsPort?: number | null;
}

export interface BootUrls {
  /** `http://IP[:PORT]`, null when HTTP is off. */
  http: string | null;
  /** `tftp://IP[:PORT]`, null when TFTP is off. */
  tftp: string | null;
  /** `https://IP[:PORT]` of the API, null when TLS is off. */
  https: string | null;
}

const base = (scheme: string, ip: string, port: number, defaultPort: number) => `${scheme}://${ip}${port === defaultPort ? '' : `:${port}`}`;

export function bootUrls(e: BootEndpoint): BootUrls {
  return {
    http: e.httpPort === null ? null : base('http', e.serverIp, e.httpPort, 80),
    tftp: e.tftpPort === null ? null : base('tftp', e.serverIp, e.tftpPort, 69),
    https: e.httpsPort == null ? null : base('https', e.serverIp, e.httpsPort, 443),
  };
}
