/**
 * A qemu VM with its serial console captured, so that a drill (or a test)
 * waits for what a person would read on the screen. Network boot through a
 * tap device, or a boot from its own disk. Runs under TCG when there is no KVM.
 */
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Vm {
  console(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Resolves when qemu ends (the guest powered off or rebooted: -no-reboot). */
  exited: Promise<void>;
  stop(): Promise<void>;
}

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export function qemuAvailable(): boolean {
  return existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/lib/ipxe/qemu/pxe-virtio.rom');
}

export interface VmOptions {
  /** Namespace holding the tap device (qemu runs there); none: no network, qemu runs here. */
  ns?: string;
  /** Tap device for a network card; none: no network at all. */
  tap?: string;
  mac: string;
  firmware: 'bios' | 'uefi';
  workDir: string;
  /** A raw disk image (virtio). */
  disk?: string;
  /** n: network first; c: the disk. */
  boot?: 'n' | 'c';
  /** Writes go to a temporary overlay: the disk file stays as it was. */
  snapshot?: boolean;
  memoryMiB?: number;
  /** Boot this kernel directly (no firmware boot, no network boot): for trying the environment itself. */
  kernel?: { vmlinuz: string; initrd: string; append: string };
  /** UEFI: which NVRAM copy to use; a new name is a machine whose firmware has never booted. */
  nvram?: string;
  /**
   * qemu's accelerator, TCG unless told otherwise: a /dev/kvm that exists can still be unusable
   * (nested, no VT-x exposed) and then qemu crawls. `kvm` on a machine with working KVM makes
   * drills several times faster (the command line passes NETRESTORE_QEMU_ACCEL here).
   */
  accel?: string;
}

export function startVm(o: VmOptions): Vm {
  const args = ['-machine', `${o.firmware === 'uefi' ? 'q35' : 'pc'},accel=${o.accel || 'tcg'}`, '-m', String(o.memoryMiB ?? 512), '-nographic', '-no-reboot', '-boot', o.boot ?? 'n'];
  if (o.firmware === 'uefi') {
    const vars = join(o.workDir, `vars-${o.mac.replace(/:/g, '')}${o.nvram ? `-${o.nvram}` : ''}.fd`);
    if (!existsSync(vars)) copyFileSync(OVMF_VARS, vars);
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  if (o.tap) {
    args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`);
    // UEFI: no option ROM, OVMF's own PXE client boots, as on a real UEFI server.
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${o.mac}${o.firmware === 'uefi' ? ',romfile=' : ''}`);
  } else args.push('-nic', 'none');
  if (o.kernel) args.push('-kernel', o.kernel.vmlinuz, '-initrd', o.kernel.initrd, '-append', o.kernel.append);
  if (o.disk) args.push('-drive', `file=${o.disk},format=raw,if=virtio,cache=unsafe${o.snapshot ? ',snapshot=on' : ''}`);
  args.push('-serial', 'mon:stdio');
  if (o.tap && !o.ns) throw new Error('a tap device lives in a namespace: pass ns');
  const [cmd, argv] = o.ns ? ['ip', ['netns', 'exec', o.ns, 'qemu-system-x86_64', ...args]] : ['qemu-system-x86_64', args];
  const proc: ResultPromise = execa(cmd, argv, { reject: false, stdin: 'ignore', buffer: false });
  let raw = '';
  let clean = '';
  let cleanFor = -1;
  // What a person reads: colours vanish, a cursor move starts a new line (the
  // agent draws lines in place). Done on the whole text: an escape may span two reads.
  const text = () => {
    if (cleanFor !== raw.length) {
      clean = raw.replace(/\x1b\[[0-9;?]*m|\x1b[c78]|\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n').replace(/\n{3,}/g, '\n\n');
      cleanFor = raw.length;
    }
    return clean;
  };
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    raw += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exited = false;
  const exitedP = proc.then(() => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    console: text,
    exited: exitedP,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`VM console never showed ${pattern} in ${Math.round(timeoutMs / 1000)} s:\n${text().slice(-3000)}`)), timeoutMs);
        const check = () => {
          const m = pattern.exec(text());
          if (m) {
            clearTimeout(t);
            resolve(m);
          } else if (exited) {
            clearTimeout(t);
            reject(new Error(`VM exited before ${pattern}:\n${text().slice(-3000)}`));
          } else waiters.push(check);
        };
        check();
      }),
    stop: async () => {
      if (!exited) proc.kill('SIGKILL');
      await exitedP;
    },
  };
}
