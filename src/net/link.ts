/**
 * Links that come and go: what the service should do, given what it serves
 * now and a plain snapshot of the interface. Pure; link-watch.ts reads the
 * snapshots and carries the steps out.
 *
 * Sockets bound to 0.0.0.0 (TFTP, HTTP) and DHCP sockets bound to the
 * interface (SO_BINDTODEVICE keeps its index) survive a link going down and
 * up, so a flap costs nothing. A new address changes the URLs clients are
 * given, and an interface made anew has a new index the DHCP sockets do not
 * follow: both restart the servers.
 */

export interface LinkSnapshot {
  name: string;
  exists: boolean;
  ifindex?: number | undefined;
  /** IFF_UP: set up by the admin (`ip link set NAME up`). */
  adminUp?: boolean | undefined;
  carrier: boolean;
  /** The first IPv4 address; only known while the link runs. */
  ipv4?: { address: string; netmask: string } | undefined;
}

export interface Serving {
  ifindex: number | undefined;
  address: string;
  netmask: string;
}

export type LinkStep =
  | { step: 'wait'; reason: string }
  | { step: 'start'; net: Serving }
  | { step: 'restart'; net: Serving; reason: string }
  | { step: 'keep' };

/** A sentence for the log: why the link cannot be served now, or undefined when it can. */
export function notReady(s: LinkSnapshot, serverIp: string | undefined): string | undefined {
  if (!s.exists) return `interface ${s.name} is gone`;
  if (s.adminUp === false) return `interface ${s.name} is down (ip link set ${s.name} up)`;
  if (!s.carrier) return `interface ${s.name} has no carrier (cable, switch port, or a VM's tap not attached yet)`;
  if (!s.ipv4 && !serverIp) return `interface ${s.name} has no IPv4 address yet`;
  return undefined;
}

export function nextStep(serving: Serving | undefined, s: LinkSnapshot, serverIp: string | undefined): LinkStep {
  const why = notReady(s, serverIp);
  // Not ready while serving: keep the sockets; clients come back when the link does.
  if (why) return serving ? { step: 'keep' } : { step: 'wait', reason: why };
  const net: Serving = { ifindex: s.ifindex, address: serverIp ?? s.ipv4!.address, netmask: s.ipv4?.netmask ?? '255.255.255.0' };
  if (!serving) return { step: 'start', net };
  if (net.address !== serving.address) return { step: 'restart', net, reason: `address changed from ${serving.address} to ${net.address}` };
  if (net.ifindex !== serving.ifindex) return { step: 'restart', net, reason: `interface ${s.name} was made anew (index ${serving.ifindex} → ${net.ifindex})` };
  if (net.netmask !== serving.netmask) return { step: 'restart', net, reason: `netmask changed from ${serving.netmask} to ${net.netmask}` };
  return { step: 'keep' };
}

/** One word for the log and /healthz: how the link is now. */
export function linkState(s: LinkSnapshot): string {
  if (!s.exists) return 'gone';
  if (!s.carrier) return s.adminUp === false ? 'down' : 'no-carrier';
  return s.ipv4 ? 'up' : 'up-no-address';
}
