/**
 * `netrestore serve`: wire the validated configuration to the servers.
 * Everything here is start-up and shutdown; the protocols live in their
 * folders and the policy beside them (dhcp/policy.ts, dhcp/boot-urls.ts,
 * menus/boot-face-config.ts).
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { tlsOn, type ServeConfig } from './config/schema.ts';
import { bootUrls } from './dhcp/boot-urls.ts';
import { defaultUefiBoot, dhcpPolicy } from './dhcp/policy.ts';
import { startDhcpServer } from './dhcp/server.ts';
import { NetrestoreError } from './shared/errors.ts';
import { startHttpServer } from './http/server.ts';
import { autoTls, readTls } from './http/tls.ts';
import { becomeUser, lookupUser, mustSwitch, prepareForUser } from './service-user.ts';
import { FileStore } from './images/store.ts';
import type { Logger } from './log.ts';
import { bootFaceFor } from './menus/boot-face-config.ts';
import { tftpBootScripts } from './menus/tftp-scripts.ts';
import { canBindToDevice } from './net/bind-to-device.ts';
import { localNetwork, type InterfaceMap } from './net/interfaces.ts';
import { openState } from './state/db.ts';
import { LeaseStore } from './state/leases.ts';
import { adminToken, adminTokenFile } from './state/settings.ts';
import { LoginGuard } from './auth/login-guard.ts';
import { openStores } from './state/stores.ts';
import { DirectoryProvider, LayeredProvider } from './tftp/provider.ts';
import { startTftpServer } from './tftp/server.ts';
import { newOps, tftpHooks, wireOps, type Ops } from './health/wire.ts';
import { planReload, type ReloadPlan } from './service/reload.ts';
import { swappable } from './service/swappable.ts';

export interface Running {
  close(): Promise<void>;
  /** A clean stop: DHCP stops, HTTP and TFTP take no new work and running transfers get `graceMs` to finish; returns those cut. */
  stop(graceMs: number): Promise<string[]>;
  /** Take what is safe to change while running (service/reload.ts); returns what was applied and what needs a restart. */
  reload(next: ServeConfig): ReloadPlan;
}

export async function serve(c: ServeConfig, baseLog: Logger, ifaces: InterfaceMap = networkInterfaces(), ops: Ops = newOps()): Promise<Running> {
  const { health, metrics } = ops;
  const log = metrics.countingLogins(baseLog);
  // An unknown user or a start without root fails before anything is opened.
  const user = c.user ? await lookupUser(c.user) : undefined;
  const switchUser = user ? mustSwitch(user) : false;
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
    // Read before the switch to --user: the key may stay root's.
    const tls = !tlsOn(c) ? undefined : c.tlsCert ? readTls(c.tlsCert, c.tlsKey!) : await autoTls(c.state, serverIp);
    if (tls?.made) log.info('tls.certificate-made', { cert: tls.certFile, key: tls.keyFile, fingerprint: tls.fingerprint });
    const urls = serverIp ? bootUrls({ serverIp, httpPort: c.httpPort === 'off' ? null : c.httpPort, tftpPort: c.tftpPort === 'off' ? null : c.tftpPort, httpsPort: tls ? c.httpsPort : null }) : null;
    const token = adminToken(db, c.adminToken, adminTokenFile(c.state));
    if (token.clear) log.secret(token.clear);
    if (c.menuPassword) log.secret(c.menuPassword);
    if (token.generatedFile) log.warn('http.admin-token', { file: token.generatedFile, note: 'generated on first start and written to this file (root only): agents pass it with --token or NETRESTORE_TOKEN; set your own with --admin-token' });
    const store = c.httpPort === 'off' ? undefined : await new FileStore(c.images).init();
    wireOps(ops, c, db, store);
    // One login throttle for the menu and the API: a source address that fails at one waits at both.
    const loginGuard = new LoginGuard();
    faceDeps = { urls, store, hosts, tasks: state.tasks, sessions: state.sessions, audit: state.audit, log, isAdminToken: token.check, users: state.users, loginGuard, fingerprint: tls?.fingerprint };
    const built = bootFaceFor(c, faceDeps);
    // Swappable: a reload builds a new face (menu texts, login) under the same routes.
    faceHolder = built && swappable(built);
    const face = faceHolder?.value;

    if (store && c.httpPort !== 'off') {
      const boot = face && urls?.http ? { base: urls.http, bootDir: c.bootDir, face } : undefined;
      // The web console; drills it starts are kept beside the state database.
      const web = { drills: { dir: join(dirname(resolve(c.state)), 'drills'), images: resolve(c.images), bootDir: resolve(c.bootDir) } };
      const common = { listen: c.listen, store, log, isAdmin: token.check, state, loginGuard, ops, console: web, ...(boot ? { boot } : {}) };
      // With TLS the plain port keeps what iPXE fetches; the API and the console are on HTTPS (http/server.ts).
      const httpsBase = tls ? (urls?.https ?? `https://${c.listen}:${c.httpsPort}`) : undefined;
      const http = await startHttpServer({ ...common, port: c.httpPort, ...(httpsBase ? { apiOnlyAt: httpsBase } : {}) });
      closers.push(() => http.close());
      drainers.push((ms) => http.drain(ms));
      health.set('http', { state: 'up' });
      log.info('http.listening', { address: c.listen, port: http.port, images: c.images, boot: boot?.base, api: httpsBase ? 'https only' : 'here' });
      if (tls) {
        const https = await startHttpServer({ ...common, port: c.httpsPort, tls });
        closers.push(() => https.close());
        drainers.push((ms) => https.drain(ms));
        log.info('https.listening', { address: c.listen, port: https.port, base: urls?.https, fingerprint: tls.fingerprint, cert: tls.certFile });
      }
    }
    if (c.tftpPort !== 'off') {
      if (!existsSync(c.bootDir)) log.warn('tftp.no-boot-dir', { bootDir: c.bootDir, hint: 'put the iPXE binaries there (Debian\'s ipxe package: /usr/lib/ipxe/undionly.kpxe, snponly.efi, ipxe.efi) or set --boot-dir' });
      // The boot scripts as virtual files over the boot directory.
      const virtual = face && urls?.tftp ? tftpBootScripts(face, urls.tftp) : () => undefined;
      const tftp = await startTftpServer({ listen: c.listen, port: c.tftpPort, provider: new LayeredProvider(virtual, new DirectoryProvider(c.bootDir)), log, busyPollMs: c.tftpBusyPoll, hooks: tftpHooks(ops) });
      closers.push(() => tftp.close());
      health.set('tftp', { state: 'up' });
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
        hooks: metrics.dhcp,
      });
      const closeDhcp = once(() => dhcp.close());
      closers.push(closeDhcp);
      drainers.push(async () => (await closeDhcp(), []));
      for (const part of ['dhcp', 'proxy'] as const) health.set(part, { state: 'up' });
      const uefiBoot = defaultUefiBoot(c);
      log.info('dhcp.listening', { mode: c.dhcp, ports: `${dhcp.ports.dhcp},${dhcp.ports.pxe}`, interface: ifname ?? 'all', serverIp: net.address, pool: c.pool && `${c.pool.first}-${c.pool.last}`, uefiBoot });
      if (c.dhcp === 'proxy' && uefiBoot === 'shim') {
        log.warn('dhcp.signed-chain-proxy', { note: `Debian's signed GRUB ignores ProxyDHCP: it asks the TFTP server the site DHCP server's answer names; set next-server (siaddr) to ${net.address} on that server (where it sets none, option 66), or GRUB finds no configuration` });
      }
    }
    // Every port is bound: from here on the service needs no privilege (service-user.ts).
    if (user && switchUser) {
      const changed = await prepareForUser(user, { state: c.state, images: c.images, readable: [c.bootDir, ...(c.menuTemplates ? [c.menuTemplates] : [])] });
      becomeUser(user);
      log.info('serve.user', { user: user.name, uid: user.uid, gid: user.gid, ownerChanged: changed });
    } else if (process.getuid?.() === 0) {
      log.warn('serve.root', { note: 'runs as root after start: give --user NAME to drop to a service user once the ports are bound' });
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
      if (plan.effective.menuPassword) log.secret(plan.effective.menuPassword); // a new menu password is a secret from now on too
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
