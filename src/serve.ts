/**
 * `netrestore serve`: wire the validated configuration to the servers.
 * Everything here is start-up and shutdown; the protocols live in their
 * folders and the policy beside them (dhcp/policy.ts, dhcp/boot-urls.ts,
 * menus/boot-face-config.ts).
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
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
import { planReload, type ReloadPlan } from './service/reload.ts';
import { swappable } from './service/swappable.ts';

export interface Running {
  close(): Promise<void>;
  /** A clean stop: DHCP stops, HTTP and TFTP take no new work and running transfers get `graceMs` to finish; returns those cut. */
  stop(graceMs: number): Promise<string[]>;
  /** Take what is safe to change while running (service/reload.ts); returns what was applied and what needs a restart. */
  reload(next: ServeConfig): ReloadPlan;
}

export async function serve(c: ServeConfig, log: Logger, ifaces: InterfaceMap = networkInterfaces()): Promise<Running> {
  const db = openState(c.state);
  const closers: (() => Promise<void>)[] = [async () => db.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  const drainers: ((ms: number) => Promise<string[]>)[] = [];
  let current = c;
  let faceDeps: Parameters<typeof bootFaceFor>[1] | undefined;
  let faceHolder: ReturnType<typeof swappable<NonNullable<ReturnType<typeof bootFaceFor>>>> | undefined;

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
    faceDeps = { urls, store, hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, log, isAdminToken: token.check };
    const built = bootFaceFor(c, faceDeps);
    // Swappable: a reload builds a new face (menu texts, login) under the same routes.
    faceHolder = built && swappable(built);
    const face = faceHolder?.value;

    if (store && c.httpPort !== 'off') {
      const boot = face && urls?.http ? { base: urls.http, bootDir: c.bootDir, face } : undefined;
      const http = await startHttpServer({ listen: c.listen, port: c.httpPort, store, log, isAdmin: token.check, state, ...(boot ? { boot } : {}) });
      closers.push(() => http.close());
      drainers.push((ms) => http.drain(ms));
      log.info('http.listening', { address: c.listen, port: http.port, images: c.images, boot: boot?.base });
    }
    if (c.tftpPort !== 'off') {
      if (!existsSync(c.bootDir)) log.warn('tftp.no-boot-dir', { bootDir: c.bootDir, hint: 'put the iPXE binaries there (Debian\'s ipxe package: /usr/lib/ipxe/undionly.kpxe, snponly.efi, ipxe.efi) or set --boot-dir' });
      // The boot scripts as virtual files over the boot directory.
      const virtual = face && urls?.tftp ? tftpBootScripts(face, urls.tftp) : () => undefined;
      const tftp = await startTftpServer({ listen: c.listen, port: c.tftpPort, provider: new LayeredProvider(virtual, new DirectoryProvider(c.bootDir)), log, busyPollMs: c.tftpBusyPoll });
      closers.push(() => tftp.close());
      drainers.push((ms) => tftp.drain(ms));
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
      const closeDhcp = once(() => dhcp.close());
      closers.push(closeDhcp);
      drainers.push(async () => (await closeDhcp(), []));
      log.info('dhcp.listening', { mode: c.dhcp, ports: `${dhcp.ports.dhcp},${dhcp.ports.pxe}`, interface: ifname ?? 'all', serverIp: net.address, pool: c.pool && `${c.pool.first}-${c.pool.last}` });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    close: closeAll,
    async stop(graceMs) {
      // DHCP first (no new boots), then HTTP and TFTP wait for their transfers side by side.
      const cut = (await Promise.all(drainers.reverse().map((d) => d(graceMs)))).flat();
      await closeAll();
      return cut;
    },
    reload(next) {
      const plan = planReload(current, next);
      if (faceHolder && faceDeps) {
        const again = bootFaceFor(plan.effective, faceDeps);
        if (again) faceHolder.set(again);
      }
      current = plan.effective;
      return plan;
    },
  };
}

function once(f: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= f());
}
