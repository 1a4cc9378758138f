/**
 * A qemu VM that boots from the network through a tap device, with its
 * serial console captured so that tests can wait for what a person would
 * read on the screen. Runs under TCG: there is no KVM here.
 */
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Vm {
  console(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export function qemuAvailable(): boolean {
  return existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/lib/ipxe/qemu/pxe-virtio.rom');
}

export function startVm(o: { ns: string; tap: string; mac: string; firmware: 'bios' | 'uefi'; workDir: string }): Vm {
  const args = ['-machine', o.firmware === 'uefi' ? 'q35,accel=tcg' : 'pc,accel=tcg', '-m', '512', '-nographic', '-no-reboot', '-boot', 'n'];
  args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`);
  if (o.firmware === 'uefi') {
    const vars = join(o.workDir, `vars-${o.mac.replace(/:/g, '')}.fd`);
    copyFileSync(OVMF_VARS, vars);
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
    // No option ROM: OVMF's own PXE client boots, as on a real UEFI server.
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${o.mac},romfile=`);
  } else {
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${o.mac}`);
  }
  args.push('-serial', 'mon:stdio');
  const proc: ResultPromise = execa('ip', ['netns', 'exec', o.ns, 'qemu-system-x86_64', ...args], { reject: false, stdin: 'ignore', buffer: false });
  let text = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    // Drop terminal escapes so that patterns match what a person reads.
    text += d.toString('latin1').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exited = false;
  void proc.then(() => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    console: () => text,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`VM console never showed ${pattern} in ${timeoutMs} ms:\n${text.slice(-3000)}`)), timeoutMs);
        const check = () => {
          const m = pattern.exec(text);
          if (m) {
            clearTimeout(t);
            resolve(m);
          } else if (exited) {
            clearTimeout(t);
            reject(new Error(`VM exited before ${pattern}:\n${text.slice(-3000)}`));
          } else waiters.push(check);
        };
        check();
      }),
    stop: async () => {
      if (!exited) proc.kill('SIGKILL');
      await proc;
    },
  };
}
