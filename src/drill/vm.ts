/**
 * A qemu VM with its serial console captured, so that a drill (or a test)
 * waits for what a person would read on the screen. Network boot through a
 * tap device, or a boot from its own disk. Runs under TCG when there is no KVM.
 */
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SerialLine } from './serial-keys.ts';

export interface Vm {
  /** Its serial console: the screen as a person reads it, and the keyboard. */
  serial: SerialLine;
  console(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Resolves when qemu ends (the guest powered off or rebooted: -no-reboot). */
  exited: Promise<void>;
  stop(): Promise<void>;
}

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Secure Boot enforced: the firmware that needs SMM, and variables with Microsoft's keys enrolled, as on a bought server. */
export const OVMF_CODE_SECBOOT = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_VARS_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

export function qemuAvailable(): boolean {
  return existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/lib/ipxe/qemu/pxe-virtio.rom');
}

export interface VmOptions {
  /** Namespace holding the tap device (qemu runs there); none: no network, qemu runs here. */
  ns?: string;
  /** Tap device for a network card; none: no network at all. */
  tap?: string;
  mac: string;
  firmware: 'bios' | 'uefi' | 'uefi-secureboot';
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
  const uefi = o.firmware !== 'bios';
  const secure = o.firmware === 'uefi-secureboot';
  const args = ['-machine', `${uefi ? 'q35' : 'pc'}${secure ? ',smm=on' : ''},accel=${o.accel || 'tcg'}`, '-m', String(o.memoryMiB ?? 512), '-nographic', '-no-reboot', '-boot', o.boot ?? 'n'];
  if (uefi) {
    const vars = join(o.workDir, `vars-${o.mac.replace(/:/g, '')}${o.nvram ? `-${o.nvram}` : ''}${secure ? '-sb' : ''}.fd`);
    if (!existsSync(vars)) copyFileSync(secure ? OVMF_VARS_MS : OVMF_VARS, vars);
    // Secure Boot: the variable store only SMM code may write, so the guest cannot switch it off.
    if (secure) args.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${secure ? OVMF_CODE_SECBOOT : OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  if (o.tap) {
    args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`);
    // UEFI: no option ROM, OVMF's own PXE client boots, as on a real UEFI server.
    // bootindex: OVMF ignores -boot and would start a disk that boots before the network.
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${o.mac}${uefi ? ',romfile=' : ''}${o.boot !== 'c' ? ',bootindex=1' : ''}`);
  } else args.push('-nic', 'none');
  if (o.kernel) args.push('-kernel', o.kernel.vmlinuz, '-initrd', o.kernel.initrd, '-append', o.kernel.append);
  if (o.disk) args.push('-drive', `file=${o.disk},format=raw,if=virtio,cache=unsafe${o.snapshot ? ',snapshot=on' : ''}`);
  args.push('-serial', 'mon:stdio');
  if (o.tap && !o.ns) throw new Error('a tap device lives in a namespace: pass ns');
  const [cmd, argv] = o.ns ? ['ip', ['netns', 'exec', o.ns, 'qemu-system-x86_64', ...args]] : ['qemu-system-x86_64', args];
  // stdin is the serial line's keyboard (-serial mon:stdio; no key here is Ctrl-A, the monitor's escape).
  const proc: ResultPromise = execa(cmd, argv, { reject: false, stdin: 'pipe', buffer: false });
  const serial = new SerialLine([proc.stdout!, proc.stderr!], proc.stdin!);
  let exited = false;
  const exitedP = proc.then(() => {
    exited = true;
    serial.close();
  });
  return {
    serial,
    console: () => serial.text(),
    exited: exitedP,
    waitFor: (pattern, timeoutMs) => serial.waitFor(pattern, timeoutMs),
    stop: async () => {
      if (!exited) proc.kill('SIGKILL');
      await exitedP;
    },
  };
}
