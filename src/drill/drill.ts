/**
 * A drill: a VM boots from the network and the product does for it what it
 * does for a server. Three kinds:
 *
 * - restore: nobody touches the VM; the agent restores an image under a
 *   one-shot task, the VM boots the restored disk, the disk is compared
 *   with the image;
 * - typed (`--interactive`): a person's keys on the serial console, the
 *   F12 path from the boot menu to the reboot (typed.ts), then the same
 *   boot and comparison;
 * - capture: the VM's disk is captured twice under tasks (capture.ts).
 *
 * Everything lives in network namespaces made for the drill and is removed
 * at the end, pass, fail or Ctrl-C.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { captureDrill } from './capture.ts';
import { agentRestores, blankDisk, bootRestoredDisk, checksum, Cleanup, createTask, exitsWithin, MAC, NET, network, networkVm, preflight, step, StepFailed, type Drill, type DrillOptions } from './parts.ts';
import type { DrillResult } from './report.ts';
import { typedDrill } from './typed.ts';
import { growDrill } from './grow-drill.ts';

export { milestones, type DrillOptions } from './parts.ts';

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

  const kind = o.kind ?? 'restore';
  const result: DrillResult = { ok: false, kind, image: o.image, firmware: o.firmware, mode: o.mode, phases: [], bytes: manifest.source.size, milestones: {}, console: '' };
  const d: Drill = { o, manifest, result, cleanup, work: '', vms: [], log };
  try {
    d.work = await mkdtemp(join(tmpdir(), 'netrestore-drill-'));
    await chmod(d.work, 0o755);
    cleanup.add(() => rm(d.work, { recursive: true, force: true }));
    const phases = kind === 'typed' ? await typedDrill(d) : kind === 'capture' ? await captureDrill(d) : kind === 'grow' ? await growDrill(d, o.targetBytes ?? 2 * manifest.source.size) : await restoreByTask(d);
    result.ok = result.phases.length === phases && result.phases.every((p) => p.ok);
  } catch (err) {
    // A failed step is already in the phases; anything else is a drill that could not run.
    if (!(err instanceof StepFailed)) throw err;
  } finally {
    if (!result.console && d.vms[0]) result.console = d.vms[0].console();
    await cleanup.run();
  }
  return result;
}

/** A one-shot restore task nobody watches. Returns how many phases a pass has. */
async function restoreByTask(d: Drill): Promise<number> {
  const { o, result, log } = d;
  const { net, disk, task } = await step(result, 'network', log, async () => {
    const net = await network(d, { images: o.images });
    const disk = join(d.work, 'disk.raw');
    await blankDisk(disk, d.manifest.source.size);
    const task = createTask(join(d.work, 'state.db'), 'restore', o.image);
    return { detail: `task ${task} for ${MAC}; service on ${NET.srv.split('/')[0]} (${o.mode} DHCP)`, next: { net, disk, task } };
  });
  const { vm } = networkVm(d, net, disk);
  await agentRestores(d, net, vm, task, 'restored and verified by the agent');
  // The agent reboots by itself after a short countdown; -no-reboot turns that into qemu's exit.
  await exitsWithin(vm, 30_000);
  await vm.stop();
  result.console = vm.console();
  await bootRestoredDisk(d, net, disk);
  await checksum(d, disk, d.manifest);
  return 5;
}
