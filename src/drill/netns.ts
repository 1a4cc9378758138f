/**
 * Networks made of Linux network namespaces (for drills and tests): one namespace holds a
 * bridge (the LAN), every host is a namespace with `eth0` on that bridge.
 * Nothing leaves the machine; `destroy()` removes every namespace made.
 */
import { execa } from 'execa';

let counter = 0;

export interface Lan {
  /** The namespace name of a host. */
  ns(host: string): string;
  /** Run a command inside a host's namespace. */
  exec(host: string, cmd: string, args: string[], opts?: { timeout?: number; reject?: boolean }): Promise<{ all: string; exitCode: number }>;
  /** Add a tap device on the bridge, in the bridge's namespace (for qemu). */
  addTap(name: string): Promise<string>;
  /** The bridge's namespace, where qemu with a tap runs. */
  bridgeNs: string;
  destroy(): Promise<void>;
}

const sh = (cmd: string, args: string[]) => execa(cmd, args, { stdio: 'pipe' });

export function netnsAvailable(): boolean {
  return process.getuid?.() === 0;
}

/** Make a LAN with the given hosts and addresses (`{ srv: '10.77.0.1/24', cli: null }`). */
export async function createLan(hosts: Record<string, string | null>, opts: { name?: string; prefix?: string } = {}): Promise<Lan> {
  const prefix = `${opts.prefix ?? 'nrt'}${process.pid % 100000}${opts.name ?? ''}${counter++}`;
  const bridgeNs = `${prefix}-lan`;
  const made: string[] = [];
  const destroy = async () => {
    for (const ns of made.reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
  };
  try {
    await sh('ip', ['netns', 'add', bridgeNs]);
    made.push(bridgeNs);
    await sh('ip', ['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    let i = 0;
    for (const [host, addr] of Object.entries(hosts)) {
      const ns = `${prefix}-${host}`;
      await sh('ip', ['netns', 'add', ns]);
      made.push(ns);
      const port = `p${i++}`;
      await sh('ip', ['-n', bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await sh('ip', ['-n', bridgeNs, 'link', 'set', port, 'master', 'br0', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      if (addr) await sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', 'eth0']);
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    bridgeNs,
    ns: (host) => `${prefix}-${host}`,
    exec: async (host, cmd, args, o = {}) => {
      const r = await execa('ip', ['netns', 'exec', `${prefix}-${host}`, cmd, ...args], { timeout: o.timeout ?? 30_000, reject: o.reject ?? true, all: true });
      return { all: String(r.all ?? ''), exitCode: r.exitCode ?? -1 };
    },
    addTap: async (name) => {
      await sh('ip', ['-n', bridgeNs, 'tuntap', 'add', name, 'mode', 'tap']);
      await sh('ip', ['-n', bridgeNs, 'link', 'set', name, 'master', 'br0', 'up']);
      return name;
    },
    destroy,
  };
}
