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
    .requiredOption('--image <name>', 'the image to restore (--capture: the VM\'s disk)')
    .addOption(new Option('--interactive', 'type what a person types on the serial console: the menu, a wrong and a right login, the disk, its name, Enter').conflicts('capture'))
    .option('--capture', 'capture the VM\'s disk (the image written out) twice under tasks: the image must equal the disk, the second capture send almost nothing')
    .option('--images <dir>', 'image store directory', 'images')
    .option('--boot-dir <dir>', 'restore environment from `netrestore build-env`', 'boot-assets/dist')
    .addOption(new Option('--firmware <kind>', 'the VM firmware').choices(['bios', 'uefi', 'uefi-secureboot']).default('bios'))
    .addOption(new Option('--mode <mode>', 'full: netrestore is the DHCP server; proxy: beside dnsmasq as the site DHCP server').choices(['full', 'proxy']).default('full'))
    .option('--expect <regex>', 'what the restored system prints on its serial console once up', DEFAULT_EXPECT.source)
    .option('--report <file>', 'write a JUnit XML report here')
    .option('--timeout <seconds>', 'longest wait for each phase', positiveInt, 900)
    .option('--json', 'print the result as JSON')
    .action(async (o: { image: string; interactive?: boolean; capture?: boolean; images: string; bootDir: string; firmware: 'bios' | 'uefi' | 'uefi-secureboot'; mode: 'full' | 'proxy'; expect: string; report?: string; timeout: number; json?: boolean }) => {
      const { runDrill } = await import('../drill/drill.ts'); // execa, qemu and the service: only when drilling
      const r = await runDrill({
        image: o.image,
        images: resolve(o.images),
        store: new FileStore(resolve(o.images)),
        bootDir: resolve(o.bootDir),
        firmware: o.firmware,
        mode: o.mode,
        kind: o.interactive ? 'typed' : o.capture ? 'capture' : 'restore',
        expect: regex(o.expect),
        agentTimeoutS: o.timeout,
        restoreTimeoutS: o.timeout * 2,
        bootTimeoutS: o.timeout,
        log: (l) => process.stderr.write(`drill: ${l}\n`),
        accel: process.env.NETRESTORE_QEMU_ACCEL,
      });
      if (o.report) await writeFile(o.report, junitReport(r));
      if (o.json) process.stdout.write(JSON.stringify({ ...r, console: undefined, summary: summaryLine(r) }) + '\n');
      else process.stdout.write(summaryLine(r) + '\n');
      if (!r.ok) process.exitCode = 1;
    });
}
