/**
 * `netrestore build-env`: build the restore environment and the iPXE first
 * stages into boot-assets/dist (or --out), and report the sizes.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { formatBytes } from '../shared/progress.ts';
import { wholeNumber } from '../shared/cli-args.ts';

/** Kernel + initrd above this take too long to load over a busy network (and in a drill under TCG). */
export const SIZE_GOAL = 50 * 1000 * 1000;

export function registerBuildEnvCommand(cli: Command): void {
  cli
    .command('build-env')
    .description('build the restore environment (Debian kernel, busybox initramfs with drivers, Node 24, the agent) and the iPXE binaries into boot-assets/dist')
    .option('--out <dir>', 'output directory', 'boot-assets/dist')
    .option('--kernel <version>', 'kernel version under /lib/modules (default: the newest installed)')
    .option('--level <n>', "zstd level of the initrd (default: 19, Node's part 22, the smallest; 3 fast)", wholeNumber)
    .option('--force', 'rebuild the initrd even when nothing changed')
    .option('--non-free-firmware', "add the firmware files the drivers name from Debian's non-free-firmware packages (firmware-bnx2, firmware-bnx2x, firmware-qlogic …), fetched with apt into build/ without changing this machine's apt sources")
    .option('--json', 'print the report as JSON')
    .action(async (o: { out: string; kernel?: string; level?: number; force?: boolean; nonFreeFirmware?: boolean; json?: boolean }) => {
      const { buildEnv } = await import('../build-env/build.ts'); // esbuild: only when building
      const r = await buildEnv({ out: resolve(o.out), kernel: o.kernel, ...(o.level ? { level: o.level } : {}), force: o.force, nonFreeFirmware: o.nonFreeFirmware, log: (l) => process.stderr.write(`build-env: ${l}\n`) });
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      const width = Math.max(14, ...Object.keys(r.files).map((f) => f.length));
      const lines = [
        `restore environment in ${o.out} (${r.cached ? 'initrd unchanged' : 'built'} in ${r.seconds} s):`,
        ...Object.entries(r.files).map(([f, n]) => `  ${f.padEnd(width)} ${formatBytes(n).padStart(10)}`),
        `  kernel + initrd ${formatBytes(r.kernelPlusInitrd)} (${sizeAgainstGoal(r.kernelPlusInitrd)})`,
        `  add-ons, fetched by the agent only to grow such a filesystem (not in kernel + initrd): ${r.addons.map((a) => `${a.name} ${(a.bytes / 1e6).toFixed(2)} MB (${a.modules} modules${a.unsignedModules.length ? `, ${a.unsignedModules.length} NOT signed` : ', signed'})`).join(', ')}`,
        `  kernel ${r.kernelVersion}, ${r.modules} modules, ${r.firmware} firmware files, Node ${r.nodeVersion}`,
        `  Secure Boot: shimx64.efi → grubx64.efi → kernel ${r.secureBoot.kernelSigners.length ? `signed by ${r.secureBoot.kernelSigners.find((n) => /signer/i.test(n)) ?? r.secureBoot.kernelSigners[0]}` : 'NOT signed'}, ${r.secureBoot.unsignedModules.length ? `${r.secureBoot.unsignedModules.length} modules NOT signed` : 'every module signed'}`,
      ];
      if (r.missingModules.length) lines.push(`  not in this kernel: ${r.missingModules.join(', ')}`);
      if (r.nonFreeFirmware) lines.push(`  non-free firmware: ${r.nonFreeFirmware.files} files, ${(r.nonFreeFirmware.bytes / 1e6).toFixed(1)} MB before compression, from ${r.nonFreeFirmware.packages.join(', ') || 'no package'}`);
      if (r.missingFirmware.length && r.nonFreeFirmware) lines.push(`  firmware in no Debian package of this release (${r.missingFirmware.length} files, mostly other versions than the packages carry): ${r.missingFirmware.slice(0, 5).join(', ')}${r.missingFirmware.length > 5 ? ' …' : ''}`);
      else if (r.missingFirmware.length) lines.push(`  firmware not installed (${r.missingFirmware.length} files; --non-free-firmware adds those Debian's non-free packages such as firmware-bnx2 have): ${r.missingFirmware.slice(0, 5).join(', ')}${r.missingFirmware.length > 5 ? ' …' : ''}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/** "49.5 MB; goal ≤ 50 MB: met" or "…: NOT met, 3.2 MB over". */
export function sizeAgainstGoal(bytes: number): string {
  const over = bytes - SIZE_GOAL;
  return `${(bytes / 1e6).toFixed(1)} MB; goal ≤ ${SIZE_GOAL / 1e6} MB: ${over <= 0 ? 'met' : `NOT met, ${(over / 1e6).toFixed(1)} MB over`}`;
}
