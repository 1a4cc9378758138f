/**
 * `netrestore serve`: wire the validated configuration to the servers.
 * Everything here is start-up and shutdown; the protocols live in their folders.
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ServeConfig } from './config/schema.ts';
import { DEFAULT_BOOT_FILES } from './dhcp/boot-target.ts';
import type { DhcpPolicy } from './dhcp/decide.ts';
import { sameSubnet, type Pool } from './dhcp/leases.ts';
import { startDhcpServer } from './dhcp/server.ts';
import { NetrestoreError } from './shared/errors.ts';
import { safeEqual } from './http/auth.ts';
import { startHttpServer } from './http/server.ts';
import { FileStore } from './images/store.ts';
import type { Logger } from './log.ts';
import { BootFace } from './menus/boot-face.ts';
import { Renderer } from './menus/render.ts';
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

/** The DHCP policy for a configuration and the network this machine is on. */
export function dhcpPolicy(c: ServeConfig, serverIp: string, netmask: string, httpRunning: boolean): DhcpPolicy {
  const boot = {
    serverIp,
    httpPort: c.httpPort === 'off' || !httpRunning ? null : c.httpPort,
    tftpPort: c.tftpPort === 'off' ? null : c.tftpPort,
    files: DEFAULT_BOOT_FILES,
  };
  if (c.dhcp !== 'full') return { mode: 'proxy', boot, full: undefined };
  const [first, last] = c.pool!.split('-') as [string, string];
  const pool: Pool = {
    first,
    last,
    subnetMask: c.subnetMask ?? netmask,
    reserved: [serverIp, ...(c.router ? [c.router] : []), ...c.dns],
  };
  for (const ip of [first, last]) {
    if (!sameSubnet(pool, ip) || !sameSubnet({ ...pool, first: serverIp }, ip)) {
      throw new NetrestoreError('CONFIG_INVALID', `pool (--pool): ${c.pool} is not on this server's network ${serverIp}/${pool.subnetMask}; pick addresses of that network or set --subnet-mask`);
    }
  }
  return { mode: 'full', boot, full: { pool, router: c.router, dns: c.dns, domain: c.domain, leaseSeconds: c.leaseTime } };
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
    let httpRunning = false;
    let face: BootFace | undefined;
    let tftpBase: string | undefined;
    if (c.httpPort !== 'off') {
      const store = await new FileStore(c.images).init();
      const token = adminToken(db, c.adminToken);
      if (token.generated) log.warn('http.admin-token', { token: token.generated, note: 'generated on first start and shown only now: keep it (agents pass it with --token or NETRESTORE_TOKEN); set your own with --admin-token' });
      const serverIp = net?.address ?? (c.listen !== '0.0.0.0' ? c.listen : undefined);
      const base = serverIp ? `http://${serverIp}:${c.httpPort}` : undefined;
      if (!base) log.warn('http.no-boot-face', { reason: 'no address to give iPXE: set --server-ip to serve boot menus' });
      if (c.menuDefault !== 'local') log.warn('menu.default-not-local', { default: c.menuDefault, note: 'after the timeout the menu waits at the login prompt: machines that boot from the network first will not come back by themselves' });
      face = base
        ? new BootFace({
            apiBase: base,
            store,
            hosts,
            tasks: state.tasks,
            sessions: state.sessions,
            audit: state.audit,
            renderer: new Renderer(c.menuTemplates),
            settings: { title: c.menuTitle, timeoutSeconds: c.menuTimeout, defaultEntry: c.menuDefault, kernel: c.kernel, initrd: c.initrd },
            log,
            checkLogin: (user: string, password: string) => user === c.menuUser && (c.menuPassword ? safeEqual(password, c.menuPassword) : token.check(password)),
          })
        : undefined;
      const http = await startHttpServer({
        listen: c.listen,
        port: c.httpPort,
        store,
        log,
        isAdmin: token.check,
        state,
        ...(base && face ? { boot: { base, bootDir: c.bootDir, face } } : {}),
      });
      tftpBase = serverIp ? `tftp://${serverIp}${c.tftpPort === 69 ? '' : `:${c.tftpPort}`}` : undefined;
      httpRunning = base !== undefined;
      closers.push(() => http.close());
      log.info('http.listening', { address: c.listen, port: http.port, images: c.images, boot: base });
    }
    if (c.tftpPort !== 'off') {
      if (!existsSync(c.bootDir)) log.warn('tftp.no-boot-dir', { bootDir: c.bootDir, hint: 'put the iPXE binaries there (Debian\'s ipxe package: /usr/lib/ipxe/undionly.kpxe, snponly.efi, ipxe.efi) or set --boot-dir' });
      // The boot scripts as virtual files, when the boot face runs; else only the directory.
      const virtual = face && tftpBase ? tftpBootScripts(face, tftpBase) : () => undefined;
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
      const leases = new LeaseStore(db);
      const dhcp = await startDhcpServer({
        dhcpPort: c.dhcpPort,
        proxyPort: c.proxyPort,
        ifname,
        policy: dhcpPolicy(c, net.address, net.netmask, httpRunning),
        hosts: (mac) => hosts.get(mac),
        leases,
        log,
        onSeen: (mac) => hosts.seen(mac, Date.now()),
      });
      closers.push(() => dhcp.close());
      log.info('dhcp.listening', { mode: c.dhcp, ports: `${dhcp.ports.dhcp},${dhcp.ports.pxe}`, interface: ifname ?? 'all', serverIp: net.address, pool: c.pool });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}
