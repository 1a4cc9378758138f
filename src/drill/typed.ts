/**
 * The typed drill (`netrestore drill --interactive`): what a person at the
 * server does after F12, typed on the VM's serial console from the table in
 * typed-steps.ts, one report phase a step, wrong keys included; then the
 * restored disk boots and is compared with the image, as in every drill.
 */
import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isZero, needsConfirmation } from '../shared/format.ts';
import { blankDisk, bootRestoredDisk, checksum, exitsWithin, MAC, NET, network, networkVm, step, type Drill, type Network } from './parts.ts';
import { describeKeys, Typist } from './serial-keys.ts';
import { typedRestoreSteps, type Check, type Wait } from './typed-steps.ts';
import type { Vm } from './vm.ts';

const USER = 'drill';
/** The menu's countdown: long, so that a slow VM never boots its blank disk while the drill reads the screen. */
const MENU_TIMEOUT_S = 300;

export async function typedDrill(d: Drill): Promise<number> {
  const { o, result, log } = d;
  const password = randomBytes(12).toString('base64url');
  const wrongPassword = `not-${randomBytes(6).toString('hex')}`;
  // The menu's own decision whether this image's role asks for a second confirmation.
  const steps = typedRestoreSteps({ image: o.image, user: USER, password, wrongPassword, roleWarning: needsConfirmation(d.manifest.role) });

  const { net, disk } = await step(result, 'network', log, async () => {
    const net = await network(d, { images: o.images, args: ['--menu-user', USER, '--menu-password', password, '--menu-timeout', String(MENU_TIMEOUT_S)] });
    const disk = join(d.work, 'disk.raw');
    await blankDisk(disk, d.manifest.source.size);
    return { detail: `no task: the menu for ${MAC}, user ${USER}; service on ${NET.srv.split('/')[0]} (${o.mode} DHCP)`, next: { net, disk } };
  });
  const { vm } = networkVm(d, net, disk);
  const typist = new Typist(vm.serial);
  const waits: Record<Wait, number> = { key: 90, boot: o.agentTimeoutS ?? 600, work: o.restoreTimeoutS ?? 1800 };
  for (const s of steps) {
    await step(result, s.name, log, async () => {
      const { match, keys } = await typist.step(s, waits[s.wait] * 1000);
      const checked = s.check ? `; ${await check(s.check, { net, vm, disk, secrets: [password, wrongPassword] })}` : '';
      const saw = (match[0].split('\n').map((l) => l.trim()).find(Boolean) ?? '').slice(0, 100);
      return { detail: `saw ${JSON.stringify(saw)}, pressed ${describeKeys(keys, [password])}${checked}`, next: undefined };
    });
  }
  await vm.stop();
  result.console = vm.console();
  await bootRestoredDisk(d, net, disk);
  await checksum(d, disk, d.manifest);
  return 1 + steps.length + 2;
}

/** What a step proves beyond its screen; throws what went wrong. */
async function check(c: Check, x: { net: Network; vm: Vm; disk: string; secrets: string[] }): Promise<string> {
  switch (c) {
    case 'login-refused':
      if (!x.net.served.events.some((e) => e.event === 'boot.login-failed' && e.mac === MAC)) throw new Error('the screen said the login was wrong, but the service logged no boot.login-failed');
      return 'the service logged boot.login-failed';
    case 'password-hidden':
      if (x.secrets.some((s) => x.vm.console().includes(s))) throw new Error('a typed password is readable on the console');
      return 'no typed password on the screen';
    case 'disk-untouched': {
      const written = await bytesWritten(x.disk);
      if (written) throw new Error(`the disk was written to (${written} bytes not zero) before its name was typed`);
      return 'the disk is still blank';
    }
    case 'vm-reboots': {
      if (!(await exitsWithin(x.vm, 60_000))) throw new Error(`the VM did not reboot within 60 s of Enter; its console ends with:\n${x.vm.console().slice(-1500)}`);
      return 'the VM rebooted';
    }
  }
}

/** Non-zero bytes in a disk file that was blank and sparse: none allocated is none written. */
async function bytesWritten(path: string): Promise<number> {
  if ((await stat(path)).blocks === 0) return 0;
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n = 0;
    for (let pos = 0; ; pos += buf.length) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (!bytesRead) return n;
      const b = buf.subarray(0, bytesRead);
      if (!isZero(b)) n += b.filter((x) => x !== 0).length;
    }
  } finally {
    await fh.close();
  }
}
