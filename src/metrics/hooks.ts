/**
 * What the servers count, as plain hooks: the DHCP, TFTP and HTTP cores call
 * these and know nothing of Prometheus (metrics.ts implements them; tests
 * may pass their own). Labels are small fixed sets, never a MAC or a path.
 */

export interface DhcpHooks {
  /** A request decoded on port 'dhcp' (67) or 'pxe' (4011); `type` is the DHCP message type or 'none'. */
  request(port: 'dhcp' | 'pxe', type: string): void;
  /** A reply sent. */
  reply(port: 'dhcp' | 'pxe', type: string): void;
  /** A request not answered, with the class of the reason (dhcp-reasons.ts). */
  ignored(reason: string): void;
  /** Our OFFER went to this MAC (proxy watch: does the firmware follow it?). */
  offered?(mac: string): void;
  /** This MAC came back to the boot server port: its firmware followed our offer. */
  followed?(mac: string): void;
}

export interface TftpHooks {
  /** A transfer ended ('done', 'failed') or a request was refused ('refused'); bytes sent for 'done'. */
  transfer(result: 'done' | 'failed' | 'refused', bytes: number, client: string): void;
}

export interface HttpHooks {
  /** One answered request: the route pattern (not the path), the status and the bytes written. */
  request(method: string, route: string, status: number, bytes: number): void;
}
