/**
 * `netrestore serve`: wire the validated configuration to the servers.
 * Everything here is start-up and shutdown; the protocols live in their
 * folders and the policy beside them (dhcp/policy.ts, dhcp/boot-urls.ts,
 * menus/boot-face-config.ts).
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ServeConfig } from './config/schema.ts';
import { bootUrls } from './dhcp/boot-urls.ts';
import { dhcpPolicy } from './dhcp/policy.ts';
import { startDhcpServer } from './dhcp/server.ts';
import { NetrestoreError } from './shared/errors.ts';
import { startHttpServer } from './http/server.ts';
import { FileStore } from './images/store.ts';
import type { Logger } from './log.ts';
import { bootFaceFor } from './menus/boot-face-config.ts';
import { tftpBootScripts } from './menus/tftp-scripts.ts';
import { canBindToDevice } from './net/bind-to-device.ts';
import { localNetwork, type InterfaceMap } from './net/interfaces.ts';
import { openState } from './state/db.ts';
import { LeaseStore } from './state/leases.ts';
import { adminToken } from './state/settings.ts';
import { openStores } from './state/stores.ts';
import { DirectoryProvider, LayeredProvider } from './tftp/provider.ts';
import { startTftpServer } from './tftp/server.ts';

export interface Running {
  close(): Promise<void>;
}

export async function serve(c: ServeConfig, log: Logger, ifaces: InterfaceMap = networkInterfaces()): Promise<Running> {
  const db = openState(c.state);
  const closers: (() => Promise<void>)[] = [async () => db.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };

  const state = openStores(db);
  const { hosts } = state;
  // "Last seen" to a few seconds is enough; a booting room must not cost a write per packet.
  const flush = setInterval(() => hosts.flushSeen(), 5000);
  closers.push(async () => {
    clearInterval(flush);
    hosts.flushSeen();
  });

  try {
    const net = c.dhcp === 'off' && !c.serverIp ? undefined : localNetwork(ifaces, { interface: c.interface, listen: c.listen, serverIp: c.serverIp });
    const serverIp = net?.address ?? (c.listen !== '0.0.0.0' ? c.listen : undefined);
    const urls = serverIp ? bootUrls({ serverIp, httpPort: c.httpPort === 'off' ? null : c.httpPort, tftpPort: c.tftpPort === 'off' ? null : c.tftpPort }) : null;
    const token = adminToken(db, c.adminToken);
    if (token.generated) log.warn('http.admin-token', { token: token.generated, note: 'generated on first start and shown only now: keep it (agents pass it with --token or NETRESTORE_TOKEN); set your own with --admin-token' });
        const store = c.httpPort === 'off' ? undefined : await new FileStore(c.images).init();
    const face = bootFaceFor(c, { urls, store, hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, log, isAdminToken: token.check });

    if (store && c.httpPort !== 'off') {
      const boot = face && urls?.http ? { base: urls.http, bootDir: c.bootDir, face } : undefined;
      // The web console; drills it starts are kept beside the state database.
      const web = { drills: { dir: join(dirname(resolve(c.state)), 'drills'), images: resolve(c.images), bootDir: resolve(c.bootDir) } };
      const http = await startHttpServer({ listen: c.listen, port: c.httpPort, store, log, isAdmin: token.check, state, console: web, ...(boot ? { boot } : {}) });
      closers.push(() => http.close());
      log.info('http.listening', { address: c.listen, port: http.port, images: c.images, boot: boot?.base });
    }
    if (c.tftpPort !== 'off') {
      if (!existsSync(c.bootDir)) log.warn('tftp.no-boot-dir', { bootDir: c.bootDir, hint: 'put the iPXE binaries there (Debian\'s ipxe package: /usr/lib/ipxe/undionly.kpxe, snponly.efi, ipxe.efi) or set --boot-dir' });
      // The boot scripts as virtual files over the boot directory.
      const virtual = face && urls?.tftp ? tftpBootScripts(face, urls.tftp) : () => undefined;
      const tftp = await startTftpServer({ listen: c.listen, port: c.tftpPort, provider: new LayeredProvider(virtual, new DirectoryProvider(c.bootDir)), log, busyPollMs: c.tftpBusyPoll });
      closers.push(() => tftp.close());
      log.info('tftp.listening', { address: c.listen, port: tftp.port, bootDir: c.bootDir });
    }
    if (net && c.dhcp !== 'off') {
      if (c.dhcp === 'full' && net.multiHomed && !c.interface) {
        throw new NetrestoreError('MULTI_HOMED', 'full DHCP on a machine with several networks needs --interface NAME: otherwise it could hand out addresses on a production LAN');
      }
      // Bind to the interface when one is named, or when it is the only one and the addon is there.
      const ifname = c.interface ?? (canBindToDevice() ? net.ifname : undefined);
      const dhcp = await startDhcpServer({
        dhcpPort: c.dhcpPort,
        proxyPort: c.proxyPort,
        ifname,
        policy: dhcpPolicy(c, net.address, net.netmask),
        hosts: (mac) => hosts.get(mac),
        leases: new LeaseStore(db),
        log,
        onSeen: (mac) => hosts.seen(mac, Date.now()),
      });
      closers.push(() => dhcp.close());
      log.info('dhcp.listening', { mode: c.dhcp, ports: `${dhcp.ports.dhcp},${dhcp.ports.pxe}`, interface: ifname ?? 'all', serverIp: net.address, pool: c.pool && `${c.pool.first}-${c.pool.last}` });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}
