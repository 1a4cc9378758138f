/**
 * What every drill is made of: its checks before it starts, the phases it
 * records, the clean-up of what it made, the service it runs in a network
 * namespace, tasks, and the boot and checksum of a restored disk.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import type { Manifest } from '../shared/format.ts';
import { requirePackages } from '../host-packages.ts';
import type { LogEvent } from '../log.ts';
import { openState } from '../state/db.ts';
import { HostStore } from '../state/hosts.ts';
import { TaskStore, type TaskKind } from '../state/tasks.ts';
import { AuditLog } from '../state/audit.ts';
import type { ImageStore } from '../images/store.ts';
import { compareDisk } from './checksum.ts';
import { createLan, type Lan } from './netns.ts';
import type { DrillResult, Phase } from './report.ts';
import { startServe, type Served } from './service.ts';
import { OVMF_CODE_SECBOOT, OVMF_VARS_MS, startVm, type Vm } from './vm.ts';

export interface DrillOptions {
  image: string;
  /** The image store's directory, for the drill's `netrestore serve`; `store` reads that same store. */
  images: string;
  store: ImageStore;
  bootDir: string;
  /** uefi: OVMF booting iPXE; uefi-secureboot: OVMF with Secure Boot enforced, booting the signed chain (shim, GRUB). */
  firmware: 'bios' | 'uefi' | 'uefi-secureboot';
  mode: 'full' | 'proxy';
  /** restore: a one-shot task, nobody touches the VM; typed: a person's keys on its serial console; capture: the VM's disk captured twice. */
  kind?: DrillResult['kind'];
  /** What the restored system prints on its serial console once it is up. */
  expect: RegExp;
  /** Seconds for each waiting step (TCG is slow: be generous). */
  agentTimeoutS?: number;
  restoreTimeoutS?: number;
  bootTimeoutS?: number;
  log?: (line: string) => void;
  /** qemu's accelerator (see VmOptions.accel). */
  accel?: string | undefined;
  /** Serve the API over HTTPS only (serve --tls auto): the agent must pin the certificate from its kernel command line. */
  tls?: boolean;
  /** grow: the size of the blank disk the image is restored onto (larger than its own). */
  targetBytes?: number;
  /** grow of a data disk (data-disk.ts): checked on this machine instead of booted. */
  dataFs?: 'xfs' | 'btrfs';
}

export const MAC = '52:54:00:d1:11:01';
export const NET = { srv: '10.213.0.1/24', site: '10.213.0.2/24', pool: '10.213.0.100-10.213.0.150', range: '10.213.0.151,10.213.0.200' };

export function preflight(o: Pick<DrillOptions, 'firmware' | 'mode' | 'bootDir'>): void {
  if (process.getuid?.() !== 0) throw new NetrestoreError('DRILL', 'a drill makes network namespaces and tap devices: run it as root');
  requirePackages('DRILL', [
    ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    ['/usr/lib/ipxe/qemu/pxe-virtio.rom', 'ipxe-qemu'],
    ...(o.firmware === 'uefi' ? ([['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf']] as const) : []),
    ...(o.firmware === 'uefi-secureboot' ? ([[OVMF_CODE_SECBOOT, 'ovmf'], [OVMF_VARS_MS, 'ovmf']] as const) : []),
    // proxy mode: dnsmasq plays the site's DHCP server
    ...(o.mode === 'proxy' ? ([['/usr/sbin/dnsmasq', 'dnsmasq-base']] as const) : []),
  ]);
  const need = ['vmlinuz', 'initrd.img', { bios: 'undionly.kpxe', uefi: 'snponly.efi', 'uefi-secureboot': 'shimx64.efi' }[o.firmware]];
  if (o.firmware === 'uefi-secureboot') need.push('grubx64.efi');
  const absent = need.filter((f) => !existsSync(join(o.bootDir, f)));
  if (absent.length) throw new NetrestoreError('DRILL', `${o.bootDir} lacks ${absent.join(', ')}: run \`netrestore build-env\` first`);
}

/** Everything made along the way, undone in reverse order, once. */
export class Cleanup {
  #steps: (() => Promise<unknown>)[] = [];
  add(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}

/** What a drill's flow works with. */
export interface Drill {
  o: DrillOptions;
  manifest: Manifest;
  result: DrillResult;
  cleanup: Cleanup;
  work: string;
  /** Every VM started, the first one's console goes into the report when nothing else did. */
  vms: Vm[];
  log: (line: string) => void;
}

export class StepFailed extends Error {}

/** One phase of the report: its time, and its detail or its error. A failure ends the drill. */
export async function step<T>(r: DrillResult, name: Phase['name'], log: (l: string) => void, fn: () => Promise<{ detail: string; next: T }>): Promise<T> {
  const t0 = performance.now();
  log(`${name}…`);
  try {
    const { detail, next } = await fn();
    const seconds = (performance.now() - t0) / 1000;
    r.phases.push({ name, seconds, ok: true, detail });
    log(`${name}: ok in ${seconds.toFixed(1)} s (${detail})`);
    return next;
  } catch (err) {
    const seconds = (performance.now() - t0) / 1000;
    const error = (err as Error).message;
    r.phases.push({ name, seconds, ok: false, error });
    log(`${name}: FAILED after ${seconds.toFixed(1)} s: ${error.split('\n')[0]}`);
    throw new StepFailed(error);
  }
}

/** A blank disk of `size` bytes, sparse: as a new server's disk, all zeros. */
export async function blankDisk(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  await fh.truncate(size);
  await fh.close();
}

export interface Network {
  lan: Lan;
  served: Served;
  tap: string;
}

/** The drill's LAN (with dnsmasq as the site's DHCP server in proxy mode), `netrestore serve` on it, and a tap for the VM. */
export async function network(d: Drill, serve: { images: string; args?: string[] }): Promise<Network> {
  const lan = await createLan(d.o.mode === 'proxy' ? { srv: NET.srv, site: NET.site } : { srv: NET.srv }, { prefix: 'nrdrill' });
  d.cleanup.add(() => lan.destroy());
  // Debian's signed GRUB asks the TFTP server the site DHCP answer names (next-server, which dnsmasq
  // otherwise sets to itself), never our ProxyDHCP offer: the site server must name netrestore.
  if (d.o.mode === 'proxy') d.cleanup.add(siteDhcp(lan, d.work, d.o.firmware === 'uefi-secureboot' ? [`--dhcp-option=option:server-ip-address,${NET.srv.split('/')[0]}`] : []));
  const served = await serveFor(d, lan, serve.images, serve.args ?? []);
  d.cleanup.add(() => served.stop());
  const tap = await lan.addTap('tap0');
  return { lan, served, tap };
}

/** dnsmasq as the site's DHCP server: addresses only, no boot options (those are netrestore's, by ProxyDHCP) but `extra`. */
function siteDhcp(lan: Lan, work: string, extra: string[]): () => Promise<void> {
  const p: ResultPromise = execa('ip', ['netns', 'exec', lan.ns('site'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces',
    `--dhcp-range=${NET.range},255.255.255.0,1h`, `--dhcp-leasefile=${join(work, 'dnsmasq.leases')}`, `--pid-file=${join(work, 'dnsmasq.pid')}`, ...extra], { reject: false });
  return async () => {
    p.kill();
    await p;
  };
}

async function serveFor(d: Drill, lan: Lan, images: string, extra: string[]): Promise<Served> {
  const args = ['--interface', 'eth0', '--http-port', '8080', '--tftp-port', '69', '--boot-dir', d.o.bootDir, '--images', images, '--state', join(d.work, 'state.db'),
    '--admin-token', randomBytes(16).toString('hex'), '--menu-timeout', '5', '--uefi-boot', d.o.firmware === 'uefi-secureboot' ? 'shim' : 'ipxe', ...(d.o.tls ? ['--tls', 'auto'] : []), ...extra];
  args.push(...(d.o.mode === 'full' ? ['--dhcp', 'full', '--pool', NET.pool] : ['--dhcp', 'proxy']));
  const served = await startServe(args, { ns: lan.ns('srv') });
  try {
    await served.waitFor('dhcp.listening', undefined, 30_000);
    await served.waitFor('http.listening', undefined, 30_000);
    if (d.o.tls) await served.waitFor('https.listening', undefined, 30_000);
  } catch (err) {
    await served.stop();
    throw new Error(`netrestore serve did not start: ${(err as Error).message}`);
  }
  return served;
}

/** A task for the drill's VM, as `netrestore hosts task` makes one. */
export function createTask(state: string, kind: TaskKind, image: string): number {
  const db = openState(state);
  try {
    const hosts = new HostStore(db);
    const tasks = new TaskStore(db);
    if (!hosts.get(MAC)) hosts.upsert({ mac: MAC, name: 'drill' });
    const t = tasks.create(MAC, kind, image, null);
    new AuditLog(db).record({ actor: 'drill', action: 'task-create', mac: MAC, image, detail: `task ${t.id} ${kind}` });
    return t.id;
  } finally {
    db.close();
  }
}

/** The task's state as the service logs it; the VM dying first is a failure with its console. */
export async function waitTask(served: Served, vm: Vm, task: number, states: string[], timeoutMs: number, what: string): Promise<LogEvent> {
  const found = served.waitFor('task.state', (e) => e.task === task && states.includes(String(e.state)), timeoutMs).catch(() => {
    throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; the VM's console ends with:\n${vm.console().slice(-2000)}`);
  });
  const died = vm.exited.then(async () => {
    await new Promise((r) => setTimeout(r, 2000)); // a report may still be on its way
    throw new Error(`the VM stopped before ${what}; its console ends with:\n${vm.console().slice(-2000)}`);
  });
  return Promise.race([found, died]);
}

/** The VM that boots from the network, its start time, and the moments the service saw it, for the report. */
/** The agent's two phases under a task, as every restore drill has them: it starts, then it ends the restore. Returns the end event. */
export async function agentRestores(d: Drill, net: Network, vm: Vm, task: number, what: string): Promise<LogEvent> {
  const { o, result, log } = d;
  await step(result, 'pxe-to-agent', log, async () => {
    const e = await waitTask(net.served, vm, task, ['started', 'done', 'failed'], (o.agentTimeoutS ?? 600) * 1000, 'the agent to start');
    if (e.state === 'failed') throw new Error(`the agent failed at once: ${String(e.error)}`);
    if (o.firmware !== 'uefi-secureboot') return { detail: `agent reported task ${task} started`, next: undefined };
    // The environment's init says what the kernel found (boot-assets/init): Secure Boot on, lockdown on.
    const sb = /netrestore: Secure Boot: ([^\r\n]*)/.exec(vm.console())?.[1]?.trim();
    if (!sb?.startsWith('on')) throw new Error(`the restore environment reported Secure Boot ${sb ?? 'nothing'} under firmware that enforces it`);
    return { detail: `agent reported task ${task} started; the environment reported Secure Boot ${sb}`, next: undefined };
  });
  return step(result, 'restore', log, async () => {
    const e = await waitTask(net.served, vm, task, ['done', 'failed'], (o.restoreTimeoutS ?? 1800) * 1000, 'the restore to end');
    if (e.state === 'failed') throw new Error(`the agent reported: ${String(e.error)}`);
    const warned = /warning: [^\n]*/i.exec(vm.console())?.[0];
    return { detail: `${what} (${String(e.bytes ?? '?')} bytes written)${warned ? `; the agent said ${JSON.stringify(warned)}` : ''}`, next: e };
  });
}

export function networkVm(d: Drill, net: Network, disk: string, track = true): { vm: Vm; t0: number } {
  const vm = startVm({ ns: net.lan.bridgeNs, tap: net.tap, mac: MAC, firmware: d.o.firmware, workDir: d.work, disk, boot: 'n', memoryMiB: 1024, accel: d.o.accel });
  d.vms.push(vm);
  const t0 = Date.now();
  d.cleanup.add(() => vm.stop());
  if (!track) return { vm, t0 };
  // What the console says: the environment's init is up (the end of the boot phase).
  void vm.waitFor(/netrestore: asking for an address/, 3600_000).then(
    () => void (d.result.milestones['environment-init'] ??= Number(((Date.now() - t0) / 1000).toFixed(2))),
    () => undefined,
  );
  d.cleanup.add(async () => void (d.result.milestones = { ...milestones(net.served.events, MAC, t0), ...d.result.milestones }));
  return { vm, t0 };
}

/** Whether the VM ends (reboots: -no-reboot) within `ms`; no timer outlives the answer (a pending one keeps the CLI alive). */
export async function exitsWithin(vm: Vm, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([vm.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The VM boots its restored disk until the console shows `expect`; writes go to a throw-away overlay. */
export async function bootRestoredDisk(d: Drill, net: Network, disk: string): Promise<void> {
  await step(d.result, 'boot-restored-disk', d.log, async () => {
    // UEFI: fresh NVRAM, as the network boot left no entry for a disk that was blank then;
    // the firmware then finds \EFI\BOOT\BOOTX64.EFI by itself.
    const booted = startVm({ ns: net.lan.bridgeNs, mac: MAC, firmware: d.o.firmware, workDir: d.work, disk, boot: 'c', snapshot: true, memoryMiB: 1024, nvram: 'disk', accel: d.o.accel });
    d.vms.push(booted);
    d.cleanup.add(() => booted.stop());
    try {
      const m = await booted.waitFor(d.o.expect, (d.o.bootTimeoutS ?? 300) * 1000);
      // The rest of the line that matched, for the report (a read can end mid-line).
      await booted.serial.waitFor(/\n/, 2000, m.index + m[0].length).catch(() => undefined);
      return { detail: `console showed ${JSON.stringify(m[0])}`, next: undefined };
    } finally {
      await booted.stop();
      d.result.console += `\n--- boot of the restored disk ---\n${booted.console()}`;
    }
  });
}

/** The disk holds the image, chunk by chunk and by its whole-disk SHA-256. */
export async function checksum(d: Drill, disk: string, m: Manifest, name: Phase['name'] = 'checksum'): Promise<void> {
  await step(d.result, name, d.log, async () => {
    const c = await compareDisk(disk, m);
    if (!c.ok) throw new Error(`the disk differs from ${m.name}: ${c.badChunks.length} chunk(s) differ, first ${c.badChunks[0] ?? '-'} (offset ${((c.badChunks[0] ?? 0) * m.chunkSize).toString()}); sha256 ${c.sha256} vs ${m.sha256}`);
    return { detail: `sha256 ${c.sha256} = image ${m.name}`, next: undefined };
  });
}

/** When the service saw the VM's firmware, iPXE and the agent (seconds after the VM started): the parts of "PXE to agent". */
export function milestones(events: LogEvent[], mac: string, vmStart: number): Record<string, number> {
  const out: Record<string, number> = {};
  const mark = (name: string, e: LogEvent) => {
    if (out[name] === undefined) out[name] = Number(((Date.parse(e.time) - vmStart) / 1000).toFixed(2));
  };
  for (const e of events) {
    if (Date.parse(e.time) < vmStart) continue;
    if (e.event === 'dhcp.reply' && e.mac === mac) mark(out['boot-script'] === undefined ? 'firmware-dhcp' : 'environment-dhcp', e);
    if (e.event === 'tftp.done') mark(`tftp ${String(e.file)}`, e);
    if (e.event === 'boot.decision') mark('boot-script', e);
    if (e.event === 'task.state') mark(`task-${String(e.state)}`, e);
  }
  return out;
}
