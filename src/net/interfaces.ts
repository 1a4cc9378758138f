/**
 * Which address and netmask this server has on the network it serves: a pure
 * function over the shape of os.networkInterfaces(), so it can be tested.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { NetrestoreError } from '../shared/errors.ts';

export type InterfaceMap = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface LocalNetwork {
  /** The interface served, if one was named or is the only one. */
  ifname: string | undefined;
  address: string;
  netmask: string;
  /** More than one non-loopback IPv4 interface is up. */
  multiHomed: boolean;
}

function ipv4Of(list: NetworkInterfaceInfo[] | undefined): NetworkInterfaceInfo | undefined {
  return list?.find((a) => a.family === 'IPv4' && !a.internal);
}

export function localNetwork(ifaces: InterfaceMap, opts: { interface?: string | undefined; listen: string; serverIp?: string | undefined }): LocalNetwork {
  const named = Object.entries(ifaces).filter(([, list]) => ipv4Of(list));
  const multiHomed = named.length > 1;
  if (opts.interface) {
    const list = ifaces[opts.interface];
    if (!list) throw new NetrestoreError('INTERFACE_UNKNOWN', `no network interface named ${opts.interface}; see \`ip -br addr\` (have: ${Object.keys(ifaces).join(', ')})`);
    const a = ipv4Of(list);
    if (!a && !opts.serverIp) throw new NetrestoreError('INTERFACE_UNKNOWN', `interface ${opts.interface} has no IPv4 address; give it one or set --server-ip`);
    return { ifname: opts.interface, address: opts.serverIp ?? a!.address, netmask: a?.netmask ?? '255.255.255.0', multiHomed };
  }
  const byListen = opts.listen !== '0.0.0.0' ? named.find(([, list]) => list!.some((a) => a.address === opts.listen)) : undefined;
  const chosen = byListen ?? (named.length === 1 ? named[0] : undefined);
  const a = chosen ? ipv4Of(chosen[1]) : undefined;
  const address = opts.serverIp ?? a?.address;
  if (!address) {
    throw new NetrestoreError(
      'INTERFACE_UNKNOWN',
      named.length === 0
        ? 'this machine has no IPv4 address to offer clients; set --server-ip'
        : `this machine has several networks (${named.map(([n]) => n).join(', ')}); choose one with --interface NAME or --server-ip ADDR`,
    );
  }
  return { ifname: chosen?.[0], address, netmask: a?.netmask ?? '255.255.255.0', multiHomed };
}
