/**
 * bench/drill: a whole BIOS drill (VM start to restored, verified and booted)
 * with the share of each phase, and the boot phase (VM start until the
 * restore environment's init runs) against dnsmasq serving the same kernel
 * and initrd over TFTP to the same qemu iPXE ROM, in the same run.
 *
 *   sudo node bench/drill.ts [--runs 1] [--secure-boot]
 *
 * --secure-boot: instead, the Secure Boot drill (OVMF secboot, the signed
 * chain shim → GRUB → kernel, a disk with shim and GRUB on its ESP) beside
 * the UEFI iPXE drill (OVMF, snponly.efi), phase by phase, in the same run.
 *
 * Needs what the drill test needs (root, qemu, build-env's packages) and dnsmasq.
 */
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileStore } from '../src/images/store.ts';
import { runDrill } from '../src/drill/drill.ts';
import { createLan } from '../src/drill/netns.ts';
import { buildTestImage, TEST_MARKER } from '../src/drill/test-image.ts';
import { startVm } from '../src/drill/vm.ts';
import { DIST, ensureBootEnv, publishTestImage } from '../test/helpers/boot-env.ts';
import { median } from './lib.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' }, 'secure-boot': { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'nr-bench-drill-'));
chmodSync(dir, 0o755);
const env = await ensureBootEnv();
const store = await publishTestImage(dir, env);
console.log(`environment: kernel ${(env.files['vmlinuz']! / 1e6).toFixed(1)} MB + initrd ${(env.files['initrd.img']! / 1e6).toFixed(1)} MB`);

/** dnsmasq: DHCP + TFTP; iPXE gets a script that loads the same kernel and initrd over TFTP. */
async function dnsmasqBoot(): Promise<number> {
  const tftp = join(dir, 'tftp');
  await execa('mkdir', ['-p', tftp]);
  for (const f of ['vmlinuz', 'initrd.img']) copyFileSync(join(DIST, f), join(tftp, f));
  writeFileSync(join(tftp, 'boot.ipxe'), '#!ipxe\nkernel tftp://10.214.0.1/vmlinuz initrd=initrd.img netrestore.server=http://10.214.0.1:9 quiet console=ttyS0,115200\ninitrd tftp://10.214.0.1/initrd.img\nboot\n');
  const lan = await createLan({ srv: '10.214.0.1/24' }, { prefix: 'nrbench' });
  const dns = execa('ip', ['netns', 'exec', lan.ns('srv'), 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.214.0.100,10.214.0.150,255.255.255.0,1h',
    `--dhcp-leasefile=${join(dir, 'leases')}`, '--enable-tftp', `--tftp-root=${tftp}`, '--dhcp-boot=boot.ipxe'], { reject: false });
  try {
    const tap = await lan.addTap('tap0');
    const t0 = performance.now();
    const vm = startVm({ ns: lan.bridgeNs, tap, mac: '52:54:00:be:00:01', firmware: 'bios', workDir: dir, memoryMiB: 1024 });
    try {
      await vm.waitFor(/netrestore: asking for an address/, 600_000);
      return (performance.now() - t0) / 1000;
    } finally {
      await vm.stop();
    }
  } finally {
    dns.kill();
    await dns;
    await lan.destroy();
  }
}

if (values['secure-boot']) {
  const sbDisk = join(dir, 'drill-test-sb.raw');
  await buildTestImage(sbDisk, { vmlinuz: `/boot/vmlinuz-${env.kernelVersion}`, secureBoot: true });
  await execa(join(import.meta.dirname, '../bin/netrestore'), ['publish', sbDisk, '--name', 'drill-test-sb', '--images', store]);
  const totals: Record<string, number[]> = { ipxe: [], shim: [] };
  for (let i = 0; i < RUNS; i++) {
    const uefi = await runDrill({ image: 'drill-test', images: store, store: new FileStore(store), bootDir: DIST, firmware: 'uefi', mode: 'full', expect: new RegExp(TEST_MARKER) });
    const sb = await runDrill({ image: 'drill-test-sb', images: store, store: new FileStore(store), bootDir: DIST, firmware: 'uefi-secureboot', mode: 'full', expect: new RegExp(`${TEST_MARKER}.*secure-boot=1`) });
    for (const [r, what] of [[uefi, 'UEFI iPXE'], [sb, 'Secure Boot']] as const) if (!r.ok) throw new Error(`the ${what} drill failed: ${JSON.stringify(r.phases)}`);
    const phases = (r: typeof uefi) => new Map(r.phases.filter((p) => p.name !== 'network').map((p) => [p.name, p.seconds]));
    const a = phases(uefi);
    const b = phases(sb);
    console.log(`run ${i + 1}: phase                 UEFI iPXE   Secure Boot (shim, GRUB)`);
    for (const name of a.keys()) console.log(`  ${name.padEnd(24)} ${a.get(name)!.toFixed(1).padStart(7)} s  ${(b.get(name) ?? NaN).toFixed(1).padStart(7)} s`);
    const sum = (m: Map<string, number>) => [...m.values()].reduce((n, x) => n + x, 0);
    console.log(`  ${'total'.padEnd(24)} ${sum(a).toFixed(1).padStart(7)} s  ${sum(b).toFixed(1).padStart(7)} s`);
    totals.ipxe!.push(sum(a));
    totals.shim!.push(sum(b));
  }
  console.log(`VM start to restored, verified and booted, medians: UEFI iPXE ${median(totals.ipxe!).toFixed(1)} s, Secure Boot ${median(totals.shim!).toFixed(1)} s: ratio ${(median(totals.ipxe!) / median(totals.shim!)).toFixed(2)} (above 1: the signed chain is faster)`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

const ours: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const r = await runDrill({ image: 'drill-test', images: store, store: new FileStore(store), bootDir: DIST, firmware: 'bios', mode: 'full', expect: new RegExp(TEST_MARKER) });
  if (!r.ok) throw new Error(`the drill failed: ${JSON.stringify(r.phases)}`);
  const total = r.phases.filter((p) => p.name !== 'network').reduce((n, p) => n + p.seconds, 0);
  console.log(`drill run ${i + 1}: ${total.toFixed(1)} s from VM start to restored, verified and booted`);
  for (const p of r.phases.filter((x) => x.name !== 'network')) console.log(`  ${p.name.padEnd(20)} ${p.seconds.toFixed(1).padStart(6)} s  ${((p.seconds / total) * 100).toFixed(0).padStart(3)} %`);
  const m = r.milestones;
  console.log(`  inside PXE to agent: firmware DHCP ${m['firmware-dhcp']} s, boot script ${m['boot-script']} s, environment init ${m['environment-init']} s, environment DHCP ${m['environment-dhcp']} s, agent started ${m['task-started']} s`);
  ours.push(m['environment-init']!);
  const t = await dnsmasqBoot();
  console.log(`  dnsmasq (TFTP), same kernel and initrd: environment init at ${t.toFixed(1)} s`);
  theirs.push(t);
}
console.log(`boot phase (VM start to the environment's init), medians: netrestore ${median(ours).toFixed(1)} s, dnsmasq ${median(theirs).toFixed(1)} s: ratio ${(median(theirs) / median(ours)).toFixed(2)} (above 1: netrestore is faster)`);
rmSync(dir, { recursive: true, force: true });
