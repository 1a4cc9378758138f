/**
 * Bind a dgram socket to one network interface (SO_BINDTODEVICE) through the
 * small addon in native/. Node exposes no public file descriptor for a UDP
 * socket, so it is read from the socket's internal handle.
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NetrestoreError } from '../shared/errors.ts';

type Addon = { bindToDevice(fd: number, ifname: string): number };
let addon: Addon | null | undefined;

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    const path = fileURLToPath(new URL('../../build/bind_to_device.node', import.meta.url));
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch {
    addon = null;
  }
  return addon;
}

export function canBindToDevice(): boolean {
  return loadAddon() !== null;
}

function socketFd(sock: Socket): number {
  // The socket's state lives under an internal symbol; reading it avoids the deprecated `_handle` getter.
  const state = Object.getOwnPropertySymbols(sock)
    .filter((s) => s.description === 'state symbol')
    .map((s) => (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[s])[0];
  const fd = state?.handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new NetrestoreError('BIND_TO_DEVICE', 'cannot find the file descriptor of a UDP socket in this Node version');
  return fd;
}

/** Call after bind(): from then on the socket sends and receives on `ifname` only. */
export function bindToDevice(sock: Socket, ifname: string): void {
  const a = loadAddon();
  if (!a) {
    throw new NetrestoreError(
      'BIND_TO_DEVICE',
      `cannot bind DHCP to interface ${ifname}: the addon build/bind_to_device.node is missing; install a C compiler (apt-get install gcc) and run \`npm rebuild\``,
    );
  }
  const errno = a.bindToDevice(socketFd(sock), ifname);
  if (errno === 19) throw new NetrestoreError('INTERFACE_UNKNOWN', `no network interface named ${ifname}; see \`ip -br link\``);
  if (errno === 1) throw new NetrestoreError('PORT_PRIVILEGED', `binding to interface ${ifname} needs root or CAP_NET_RAW`);
  if (errno !== 0) throw new NetrestoreError('BIND_TO_DEVICE', `SO_BINDTODEVICE ${ifname} failed with errno ${errno}`);
}
