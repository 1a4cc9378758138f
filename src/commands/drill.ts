/**
 * `netrestore drill`: prove that an image restores, on a VM nobody touches
 * (a task), or typed as a person would (--interactive); or that a machine
 * captures (--capture). Exit status 0 only when every phase passed.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { FileStore } from '../images/store.ts';
import { positiveInt } from '../shared/cli-args.ts';
import { DEFAULT_EXPECT } from '../drill/expect.ts';
import { junitReport, summaryLine } from '../drill/report.ts';
import type { DrillDisk } from '../drill/grow-drill.ts';

function regex(v: string): RegExp {
  try {
    return new RegExp(v);
  } catch (err) {
    throw new NetrestoreError('USAGE', `--expect ${v} is not a regular expression: ${(err as Error).message}`);
  }
}

export function registerDrillCommand(cli: Command): void {
  cli
    .command('drill')
    .description('restore an image onto a VM booted from the network (namespaces + qemu), boot the restored disk, compare it with the image')
    .option('--image <name>', 'the image to restore (--capture: the VM\'s disk); required unless --disk')
    .addOption(new Option('--disk <kind>', 'instead of an image: make this disk (linux-ext4: MBR, extlinux, the Debian kernel, an ext4 root as the last partition; data-xfs, data-btrfs: GPT, one XFS or btrfs partition with files), publish it into the drill\'s own store, restore it onto a larger blank disk; linux-ext4 must boot and its root fill the disk; a data disk\'s filesystem must fill it (grown through the restore environment\'s add-on), pass its checker, and hold every file as made').choices(['linux-ext4', 'data-xfs', 'data-btrfs']).conflicts(['image', 'interactive', 'capture']))
    .option('--target-size <size>', 'with --disk: the blank disk restored onto, a multiple of the image\'s disk (2x) or a size (256M)', '2x')
    .addOption(new Option('--interactive', 'type what a person types on the serial console: the menu, a wrong and a right login, the disk, its name, Enter').conflicts('capture'))
    .option('--capture', 'capture the VM\'s disk (the image written out) twice under tasks: the image must equal the disk, the second capture send almost nothing')
    .option('--images <dir>', 'image store directory', 'images')
    .option('--boot-dir <dir>', 'restore environment from `netrestore build-env`', 'boot-assets/dist')
    .addOption(new Option('--firmware <kind>', 'the VM firmware').choices(['bios', 'uefi', 'uefi-secureboot']).default('bios'))
    .addOption(new Option('--mode <mode>', 'full: netrestore is the DHCP server; proxy: beside dnsmasq as the site DHCP server').choices(['full', 'proxy']).default('full'))
    .option('--expect <regex>', 'what the restored system prints on its serial console once up', DEFAULT_EXPECT.source)
    .option('--tls', 'serve the API over HTTPS only (serve --tls auto): the agent restores over HTTPS, pinned to the fingerprint on its kernel command line')
    .option('--report <file>', 'write a JUnit XML report here')
    .option('--timeout <seconds>', 'longest wait for each phase', positiveInt, 900)
    .option('--json', 'print the result as JSON')
    .action(async (o: { image?: string; disk?: DrillDisk; targetSize: string; interactive?: boolean; capture?: boolean; images: string; bootDir: string; firmware: 'bios' | 'uefi' | 'uefi-secureboot'; mode: 'full' | 'proxy'; expect: string; report?: string; timeout: number; json?: boolean; tls?: boolean }) => {
      if (!o.image && !o.disk) throw new NetrestoreError('USAGE', 'name the image to drill with --image NAME, or let the drill make a disk with --disk linux-ext4');
      const { runDrill } = await import('../drill/drill.ts'); // execa, qemu and the service: only when drilling
      const log = (l: string) => process.stderr.write(`drill: ${l}\n`);
      if (o.disk) {
        // Before the disk is made: root, qemu, the restore environment.
        const { preflight } = await import('../drill/parts.ts');
        preflight({ firmware: o.firmware, mode: o.mode, bootDir: resolve(o.bootDir) });
      }
      const made = o.disk ? await madeDisk(o.disk, o.targetSize, log) : undefined;
      const images = made?.images ?? resolve(o.images);
      const r = await runDrill({
        image: made?.image ?? o.image!,
        images,
        store: new FileStore(images),
        bootDir: resolve(o.bootDir),
        firmware: o.firmware,
        mode: o.mode,
        kind: o.interactive ? 'typed' : o.capture ? 'capture' : made ? 'grow' : 'restore',
        ...(made ? { targetBytes: made.targetBytes, ...(made.dataFs ? { dataFs: made.dataFs } : {}) } : {}),
        expect: made?.expect ?? regex(o.expect),
        agentTimeoutS: o.timeout,
        restoreTimeoutS: o.timeout * 2,
        bootTimeoutS: o.timeout,
        log,
        accel: process.env.NETRESTORE_QEMU_ACCEL,
        tls: o.tls === true,
      }).finally(() => made?.remove());
      if (o.report) await writeFile(o.report, junitReport(r));
      if (o.json) process.stdout.write(JSON.stringify({ ...r, console: undefined, summary: summaryLine(r) }) + '\n');
      else process.stdout.write(summaryLine(r) + '\n');
      if (!r.ok) process.exitCode = 1;
    });
}

/** `--disk`: the disk made and published into a directory of its own, removed after the drill. */
async function madeDisk(kind: DrillDisk, targetSize: string, log: (l: string) => void) {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { publishDrillDisk, parseTargetSize, dataFsOf } = await import('../drill/grow-drill.ts');
  const { ROOT_LINE } = await import('../drill/linux-disk.ts');
  const { rmSync } = await import('node:fs');
  const dir = await mkdtemp(join(tmpdir(), 'netrestore-drill-disk-'));
  // Ctrl-C ends the drill with process.exit after its own clean-up: the disk goes then too.
  const onExit = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', onExit);
  const remove = async () => {
    process.off('exit', onExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { images, image } = await publishDrillDisk(kind, dir, log);
    const m = await new FileStore(images).readManifest(image);
    if (!m) throw new Error(`the drill's disk was published but ${image} is not in ${images}`);
    // A data disk is checked on this machine, not booted: nothing to expect on a console.
    return { images, image, targetBytes: parseTargetSize(targetSize, m.source.size), expect: ROOT_LINE, dataFs: dataFsOf(kind), remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
