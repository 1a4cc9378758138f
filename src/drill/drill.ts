/**
 * A restore drill: a VM that nobody touches boots from the network, the
 * agent restores an image under a one-shot task, the VM boots the restored
 * disk, and the disk is compared with the image. Everything lives in
 * network namespaces made for the drill and is removed at the end, pass,
 * fail or Ctrl-C.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { requirePackages } from '../host-packages.ts';
import type { ImageStore } from '../images/store.ts';
import type { LogEvent } from '../log.ts';
import { openState } from '../state/db.ts';
import { HostStore } from '../state/hosts.ts';
import { TaskStore } from '../state/tasks.ts';
import { AuditLog } from '../state/audit.ts';
import { compareDisk } from './checksum.ts';
import { createLan, type Lan } from './netns.ts';
import type { DrillResult, Phase } from './report.ts';
import { startServe, type Served } from './service.ts';
import { startVm, type Vm } from './vm.ts';

export interface DrillOptions {
  image: string;
  /** The image store's directory, for the drill's `netrestore serve`; `store` reads that same store. */
  images: string;
  store: ImageStore;
  bootDir: string;
  firmware: 'bios' | 'uefi';
  mode: 'full' | 'proxy';
  /** What the restored system prints on its serial console once it is up. */
  expect: RegExp;
  /** Seconds for each waiting step (TCG is slow: be generous). */
  agentTimeoutS?: number;
  restoreTimeoutS?: number;
  bootTimeoutS?: number;
  log?: (line: string) => void;
  /** qemu's accelerator (see VmOptions.accel). */
  accel?: string;
}

const MAC = '52:54:00:d1:11:01';
const NET = { srv: '10.213.0.1/24', site: '10.213.0.2/24', pool: '10.213.0.100-10.213.0.150', range: '10.213.0.151,10.213.0.200' };

function preflight(o: DrillOptions): void {
  if (process.getuid?.() !== 0) throw new NetrestoreError('DRILL', 'a drill makes network namespaces and tap devices: run it as root');
  requirePackages('DRILL', [
    ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    ['/usr/lib/ipxe/qemu/pxe-virtio.rom', 'ipxe-qemu'],
    ...(o.firmware === 'uefi' ? ([['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf']] as const) : []),
    // proxy mode: dnsmasq plays the site's DHCP server
    ...(o.mode === 'proxy' ? ([['/usr/sbin/dnsmasq', 'dnsmasq-base']] as const) : []),
  ]);
  const need = ['vmlinuz', 'initrd.img', o.firmware === 'uefi' ? 'snponly.efi' : 'undionly.kpxe'];
  const absent = need.filter((f) => !existsSync(join(o.bootDir, f)));
  if (absent.length) throw new NetrestoreError('DRILL', `${o.bootDir} lacks ${absent.join(', ')}: run \`netrestore build-env\` first`);
}

/** Everything made along the way, undone in reverse order, once. */
class Cleanup {
  #steps: (() => Promise<unknown>)[] = [];
  add(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}

export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  preflight(o);
  const log = o.log ?? (() => {});
  const manifest = await o.store.readManifest(o.image);
  if (!manifest) throw new NetrestoreError('IMAGE_NOT_FOUND', `no image named ${o.image} in ${o.images}: see \`netrestore images list --images ${o.images}\``);

  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: removing the drill's namespaces, processes and files`);
    void cleanup.run().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  // on, not once: execa's exit hook re-raises a signal that finds no other
  // listener, and a once-listener is gone by then; the process would die
  // with the namespaces still there.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  cleanup.add(async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  const result: DrillResult = { ok: false, image: o.image, firmware: o.firmware, mode: o.mode, phases: [], bytes: manifest.source.size, milestones: {}, console: '' };
  const vms: Vm[] = [];
  try {
    const work = await mkdtemp(join(tmpdir(), 'netrestore-drill-'));
    await chmod(work, 0o755);
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const { lan, served, tap, disk, task } = await step(result, 'network', log, async () => {
      const lan = await createLan(o.mode === 'proxy' ? { srv: NET.srv, site: NET.site } : { srv: NET.srv }, { prefix: 'nrdrill' });
      cleanup.add(() => lan.destroy());
      if (o.mode === 'proxy') cleanup.add(siteDhcp(lan, work));
      const served = await serveFor(o, lan, work);
      cleanup.add(() => served.stop());
      const tap = await lan.addTap('tap0');
      const disk = join(work, 'disk.raw');
      // A blank disk of the image's size, sparse: as a new server's disk, all zeros.
      const fh = await open(disk, 'w');
      await fh.truncate(manifest.source.size);
      await fh.close();
      const task = createTask(join(work, 'state.db'), o.image);
      return { detail: `task ${task} for ${MAC}; service on ${NET.srv.split('/')[0]} (${o.mode} DHCP)`, next: { lan, served, tap, disk, task } };
    });
    const vm = startVm({ ns: lan.bridgeNs, tap, mac: MAC, firmware: o.firmware, workDir: work, disk, boot: 'n', memoryMiB: 1024, accel: o.accel });
    vms.push(vm);
    const t0 = Date.now();
    cleanup.add(() => vm.stop());
    // What the console says: the environment's init is up (the end of the boot phase).
    void vm.waitFor(/netrestore: asking for an address/, 3600_000).then(
      () => void (result.milestones['environment-init'] = Number(((Date.now() - t0) / 1000).toFixed(2))),
      () => undefined,
    );
    cleanup.add(async () => void (result.milestones = { ...milestones(served.events, MAC, t0), ...result.milestones }));
    await step(result, 'pxe-to-agent', log, async () => {
      const e = await waitTask(served, vm, task, ['started', 'done', 'failed'], (o.agentTimeoutS ?? 600) * 1000, 'the agent to start');
      if (e.state === 'failed') throw new Error(`the agent failed at once: ${String(e.error)}`);
      return { detail: `agent reported task ${task} started`, next: undefined };
    });
    await step(result, 'restore', log, async () => {
      const e = await waitTask(served, vm, task, ['done', 'failed'], (o.restoreTimeoutS ?? 1800) * 1000, 'the restore to end');
      if (e.state === 'failed') throw new Error(`the agent reported: ${String(e.error)}`);
      return { detail: `restored and verified by the agent (${String(e.bytes ?? '?')} bytes written)`, next: undefined };
    });
    // The agent reboots by itself after a short countdown; -no-reboot turns that into qemu's exit.
    await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 30_000))]);
    await vm.stop();
    result.console = vm.console();
    await step(result, 'boot-restored-disk', log, async () => {
      // UEFI: fresh NVRAM, as the network boot left no entry for a disk that was blank then;
      // the firmware then finds \EFI\BOOT\BOOTX64.EFI by itself.
      const booted = startVm({ ns: lan.bridgeNs, mac: MAC, firmware: o.firmware, workDir: work, disk, boot: 'c', snapshot: true, memoryMiB: 1024, nvram: 'disk', accel: o.accel });
      vms.push(booted);
      cleanup.add(() => booted.stop());
      try {
        const m = await booted.waitFor(o.expect, (o.bootTimeoutS ?? 300) * 1000);
        return { detail: `console showed ${JSON.stringify(m[0])}`, next: undefined };
      } finally {
        await booted.stop();
        result.console += `\n--- boot of the restored disk ---\n${booted.console()}`;
      }
    });
    await step(result, 'checksum', log, async () => {
      const c = await compareDisk(disk, manifest);
      if (!c.ok) throw new Error(`the disk differs from ${o.image}: ${c.badChunks.length} chunk(s) differ, first ${c.badChunks[0] ?? '-'} (offset ${((c.badChunks[0] ?? 0) * manifest.chunkSize).toString()}); sha256 ${c.sha256} vs ${manifest.sha256}`);
      return { detail: `sha256 ${c.sha256} = image ${o.image}`, next: undefined };
    });
    result.ok = result.phases.length === 5 && result.phases.every((p) => p.ok);
  } catch (err) {
    // A failed step is already in the phases; anything else is a drill that could not run.
    if ((err as Error | undefined)?.name !== 'StepFailed') throw err;
  } finally {
    if (!result.console && vms[0]) result.console = vms[0].console();
    await cleanup.run();
  }
  return result;
}

/** Internal: ends the drill after a failed phase, which the result already holds; never shown. */
class StepFailed extends Error {
  override name = 'StepFailed';
}

async function step<T>(r: DrillResult, name: Phase['name'], log: (l: string) => void, fn: () => Promise<{ detail: string; next: T }>): Promise<T> {
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

/** dnsmasq as the site's DHCP server: addresses only, no boot options (those are netrestore's, by ProxyDHCP). */
function siteDhcp(lan: Lan, work: string): () => Promise<void> {
  const p: ResultPromise = execa('ip', ['netns', 'exec', lan.ns('site'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces',
    `--dhcp-range=${NET.range},255.255.255.0,1h`, `--dhcp-leasefile=${join(work, 'dnsmasq.leases')}`, `--pid-file=${join(work, 'dnsmasq.pid')}`], { reject: false });
  return async () => {
    p.kill();
    await p;
  };
}

async function serveFor(o: DrillOptions, lan: Lan, work: string): Promise<Served> {
  const args = ['--interface', 'eth0', '--http-port', '8080', '--tftp-port', '69', '--boot-dir', o.bootDir, '--images', o.images, '--state', join(work, 'state.db'),
    '--admin-token', randomBytes(16).toString('hex'), '--menu-timeout', '5'];
  args.push(...(o.mode === 'full' ? ['--dhcp', 'full', '--pool', NET.pool] : ['--dhcp', 'proxy']));
  const served = await startServe(args, { ns: lan.ns('srv') });
  try {
    await served.waitFor('dhcp.listening', undefined, 30_000);
    await served.waitFor('http.listening', undefined, 30_000);
  } catch (err) {
    await served.stop();
    throw new Error(`netrestore serve did not start: ${(err as Error).message}`);
  }
  return served;
}

function createTask(state: string, image: string): number {
  const db = openState(state);
  try {
    const hosts = new HostStore(db);
    const tasks = new TaskStore(db);
    if (!hosts.get(MAC)) hosts.upsert({ mac: MAC, name: 'drill' });
    const t = tasks.create(MAC, 'restore', image, null);
    new AuditLog(db).record({ actor: 'drill', action: 'task-create', mac: MAC, image, detail: `task ${t.id} restore` });
    return t.id;
  } finally {
    db.close();
  }
}

/** The task's state as the service logs it; the VM dying first is a failure with its console. */
async function waitTask(served: Served, vm: Vm, task: number, states: string[], timeoutMs: number, what: string): Promise<LogEvent> {
  const found = served.waitFor('task.state', (e) => e.task === task && states.includes(String(e.state)), timeoutMs).catch(() => {
    throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; the VM's console ends with:\n${vm.console().slice(-2000)}`);
  });
  const died = vm.exited.then(async () => {
    await new Promise((r) => setTimeout(r, 2000)); // a report may still be on its way
    throw new Error(`the VM stopped before ${what}; its console ends with:\n${vm.console().slice(-2000)}`);
  });
  return Promise.race([found, died]);
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
