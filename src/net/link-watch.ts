/**
 * Serve on a named interface whatever its link does: wait for carrier and
 * an address, start, and follow flaps and address changes (link.ts decides).
 * Snapshots come from /sys/class/net (which lists interfaces without
 * carrier, unlike os.networkInterfaces()) and the address from
 * os.networkInterfaces() once the link runs. Polling, once a second: no
 * netlink socket to hold, and a second is well inside a firmware's retries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ServeConfig } from '../config/schema.ts';
import { newOps, type Ops } from '../health/wire.ts';
import type { Logger } from '../log.ts';
import { NetrestoreError } from '../shared/errors.ts';
import type { InterfaceMap } from './interfaces.ts';
import { linkState, nextStep, notReady, type LinkSnapshot, type Serving } from './link.ts';
import type { Running } from '../serve.ts';
import { planReload } from '../service/reload.ts';
export type StartServe = (c: ServeConfig, log: Logger, ifaces: InterfaceMap, ops: Ops) => Promise<Running>;

const SYS = '/sys/class/net';

function sysRead(name: string, file: string): string | undefined {
  try {
    return readFileSync(`${SYS}/${name}/${file}`, 'utf8').trim();
  } catch {
    return undefined; // carrier reads EINVAL while the interface is down
  }
}

export function readLink(name: string, ifaces: InterfaceMap = networkInterfaces()): LinkSnapshot {
  const ifindex = sysRead(name, 'ifindex');
  if (ifindex === undefined) return { name, exists: false, carrier: false };
  const a = ifaces[name]?.find((x) => x.family === 'IPv4' && !x.internal);
  return { name, exists: true, ifindex: Number(ifindex), adminUp: (Number(sysRead(name, 'flags') ?? 0) & 1) === 1, carrier: sysRead(name, 'carrier') === '1', ipv4: a && { address: a.address, netmask: a.netmask } };
}

export function interfaceNames(): string[] {
  try {
    return readdirSync(SYS);
  } catch {
    return [];
  }
}

/** The interfaces Node lists, with the served one as the snapshot saw it (Node leaves it out while it has no carrier). */
function ifacesWith(s: LinkSnapshot, net: Serving): InterfaceMap {
  const all = networkInterfaces();
  if (!all[s.name]?.some((a) => a.family === 'IPv4')) {
    all[s.name] = [{ address: net.address, netmask: net.netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null }];
  }
  return all;
}

export interface LinkWatchOptions {
  pollMs?: number;
  read?: (name: string) => LinkSnapshot;
  /** A start or restart that failed after the first: the caller ends the process (systemd restarts it). */
  onFatal: (err: unknown) => void;
}

/**
 * Start serving `c.interface` now if its link is ready, else once it is. An
 * interface that does not exist at all is refused: a misspelt name must fail
 * at once, not wait for ever (interfaces made at boot exist before the
 * service starts once it is ordered after network-pre.target; a tap is made
 * before it is attached).
 */
export async function serveOnLink(c: ServeConfig, log: Logger, start: StartServe, o: LinkWatchOptions): Promise<Running> {
  const name = c.interface!;
  const read = o.read ?? ((n: string) => readLink(n));
  const ops = newOps();
  let snap = read(name);
  if (!snap.exists) throw new NetrestoreError('INTERFACE_UNKNOWN', `no network interface named ${name}; see \`ip -br link\` (have: ${interfaceNames().join(', ')})`);

  let serving: Serving | undefined;
  let running: Running | undefined;
  let state = '';
  let waited = '';
  let closed = false;
  const note = (s: LinkSnapshot) => {
    const now = linkState(s);
    const reason = notReady(s, c.serverIp);
    ops.health.set('link', reason ? { state: 'down', reason } : { state: 'up' });
    if (now === state) return;
    if (state) log.info('link.state', { interface: name, from: state, to: now, address: s.ipv4?.address, note: reason });
    state = now;
  };
  const step = async (s: LinkSnapshot) => {
    note(s);
    const next = nextStep(serving, s, c.serverIp);
    if (next.step === 'keep') return;
    if (next.step === 'wait') {
      if (waited !== next.reason) log.warn('link.waiting', { interface: name, reason: next.reason, note: 'DHCP, TFTP and HTTP start when the link is up with an address' });
      waited = next.reason;
      return;
    }
    if (next.step === 'restart') {
      log.info('link.restart', { interface: name, reason: next.reason });
      await running?.close();
      running = undefined;
    }
    running = await start(c, log, ifacesWith(s, next.net), ops);
    serving = next.net;
    log.info('link.serving', { interface: name, address: next.net.address });
  };

  await step(snap); // a failure of the first start is the caller's, as without a link watch
  let busy = false;
  const timer = setInterval(() => {
    if (busy || closed) return;
    busy = true;
    snap = read(name);
    step(snap)
      .catch((err: unknown) => {
        clearInterval(timer);
        o.onFatal(err);
      })
      .finally(() => (busy = false));
  }, o.pollMs ?? 1000);

  const halt = () => {
    closed = true;
    clearInterval(timer);
  };
  return {
    close: async () => {
      halt();
      await running?.close();
    },
    stop: async (graceMs) => {
      halt();
      return (await running?.stop(graceMs)) ?? [];
    },
    // The servers take what is safe to change; a restart after a link change starts from the new configuration.
    reload: (next) => {
      const plan = running ? running.reload(next) : planReload(c, next);
      c = plan.effective;
      return plan;
    },
  };
}
