/**
 * The capture drill (`netrestore drill --capture`): a VM whose disk boots
 * (the image written out) gets a capture task, boots from the network,
 * uploads and reboots by itself; the published image must equal the disk
 * (whole-disk SHA-256). Then a second capture of the same, unchanged disk
 * must send almost nothing: the store may grow by less than 1 % of the
 * disk. The captures go into an empty store of the drill's own, removed
 * with it: the admin's store gains nothing.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../shared/format.ts';
import { formatBytes } from '../shared/progress.ts';
import { FileStore } from '../images/store.ts';
import { checksum, createTask, exitsWithin, MAC, NET, network, networkVm, step, waitTask, type Drill, type Network } from './parts.ts';
import { writeImageFile } from './source-disk.ts';
import type { Vm } from './vm.ts';

const NAMES = ['drill-capture-1', 'drill-capture-2'] as const;
/** The second capture of an unchanged disk may add at most this share of the disk to the store (its manifest, no chunks). */
export const SECOND_CAPTURE_MAX_SHARE = 0.01;
/** The agent reboots a few seconds after a task ends (a countdown a key stops). */
const REBOOT_WITHIN_S = 60;

export async function captureDrill(d: Drill): Promise<number> {
  const { o, result, log } = d;
  const store = join(d.work, 'captured');
  const state = join(d.work, 'state.db');
  const { net, disk } = await step(result, 'network', log, async () => {
    await mkdir(store);
    const disk = join(d.work, 'disk.raw');
    await writeImageFile(o.store, d.manifest, disk);
    const net = await network(d, { images: store });
    return { detail: `the VM's disk is ${o.image} written out; captures go to an empty store; service on ${NET.srv.split('/')[0]} (${o.mode} DHCP)`, next: { net, disk } };
  });
  result.captures = [];

  const first = await captureOnce(d, net, disk, store, state, NAMES[0], true);
  await checksum(d, disk, first.manifest);
  const second = await step(result, 'second-capture', log, async () => {
    const c = await captureOnce(d, net, disk, store, state, NAMES[1], false);
    if (c.manifest.sha256 !== first.manifest.sha256) throw new Error(`the unchanged disk captured again differs: sha256 ${c.manifest.sha256} vs ${first.manifest.sha256}`);
    return { detail: c.detail, next: c };
  });
  await step(result, 'second-capture-sends-little', log, async () => {
    const share = second.stored / d.manifest.source.size;
    const said = `the store grew by ${formatBytes(second.stored)} (${(100 * share).toFixed(3)} % of the ${formatBytes(d.manifest.source.size)} disk; the first capture: ${formatBytes(first.stored)})`;
    if (share >= SECOND_CAPTURE_MAX_SHARE) throw new Error(`the second capture of the unchanged disk sent too much: ${said}; only chunks the server lacks should travel`);
    return { detail: said, next: undefined };
  });
  return 7;
}

interface Captured {
  manifest: Manifest;
  /** Bytes the capture added to the store. */
  stored: number;
  detail: string;
}

/**
 * One capture task: PXE, upload, reboot. The first is drilled phase by
 * phase (pxe-to-agent, capture, reboot); a later one is one phase of its own.
 */
async function captureOnce(d: Drill, net: Network, disk: string, store: string, state: string, name: string, phases: boolean): Promise<Captured> {
  const { o, result, log } = d;
  const task = createTask(state, 'capture', name);
  const before = await storeBytes(store);
  const { vm } = networkVm(d, net, disk, phases);
  const phase = <T>(n: string, fn: () => Promise<{ detail: string; next: T }>) => (phases ? step(result, n, log, fn) : fn().then((r) => r.next));
  try {
    await phase('pxe-to-agent', async () => {
      const e = await waitTask(net.served, vm, task, ['started', 'done', 'failed'], (o.agentTimeoutS ?? 600) * 1000, 'the agent to start');
      if (e.state === 'failed') throw new Error(`the agent failed at once: ${String(e.error)}`);
      return { detail: `agent reported task ${task} started`, next: undefined };
    });
    const t0 = performance.now();
    const captured = await phase('capture', async () => {
      const e = await waitTask(net.served, vm, task, ['done', 'failed'], (o.restoreTimeoutS ?? 1800) * 1000, `the capture of ${name} to end`);
      if (e.state === 'failed') throw new Error(`the agent reported: ${String(e.error)}`);
      const seconds = (performance.now() - t0) / 1000;
      const manifest = await new FileStore(store).readManifest(name);
      if (!manifest) throw new Error(`task ${task} is done but the store holds no image ${name}`);
      const stored = (await storeBytes(store)) - before;
      result.captures!.push({ image: name, seconds, stored });
      const detail = `${name} published, ${formatBytes(manifest.source.size)}; the store grew by ${formatBytes(stored)}`;
      return { detail, next: { manifest, stored, detail } };
    });
    const said = await phase('reboot', async () => {
      const s = await rebooted(vm);
      // The agent's own count, on its last screen (drawn after its report to the server).
      const said = /Read [^;\n]+; sent [^\n]*?the server had\)/.exec(vm.console())?.[0];
      return { detail: `the VM rebooted by itself ${s.toFixed(1)} s after the capture ended${said ? `; the agent said ${JSON.stringify(said)}` : ''}`, next: said };
    });
    return { ...captured, detail: `${captured.detail}${said ? `; the agent said ${JSON.stringify(said)}` : ''}` };
  } finally {
    await vm.stop();
    result.console += `${result.console ? '\n' : ''}--- capture ${name} (${MAC}) ---\n${vm.console()}`;
  }
}

async function rebooted(vm: Vm): Promise<number> {
  const t0 = performance.now();
  if (!(await exitsWithin(vm, REBOOT_WITHIN_S * 1000))) throw new Error(`the VM did not reboot within ${REBOOT_WITHIN_S} s of the end of its task; its console ends with:\n${vm.console().slice(-1500)}`);
  return (performance.now() - t0) / 1000;
}

/** Bytes of every file under `dir`: what the store holds, whatever its layout. */
async function storeBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  }
  return n;
}
