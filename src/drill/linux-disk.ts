/**
 * A real Linux disk in miniature, for the drill of a restore onto a larger
 * disk (`netrestore drill --disk linux-ext4`): MBR, one ext4 partition, the
 * last, holding the root filesystem; extlinux in the MBR and the partition
 * loads the Debian kernel and a busybox initramfs from that ext4; the
 * initramfs loads the virtio and ext4 modules, mounts the root and
 * switch_roots into it. The root's own init checks every file against the
 * SHA256SUMS made here, prints the size of the root filesystem as the
 * booted kernel sees it (statfs, df), and powers off.
 *
 * Made with Debian's tools through a loop device (the partition mounted, as
 * extlinux installs only into a mounted filesystem): run as root.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { cpioArchive, type CpioEntry } from '../build-env/cpio.ts';
import { moduleName } from '../build-env/modules.ts';
import { requirePackages, type Need } from '../host-packages.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { withFirstPartition } from './first-partition.ts';

/**
 * What the restored root prints: `NETRESTORE-ROOT-BYTES=<statfs total bytes> FILES=<ok|BAD>`,
 * matched only once its line has ended: a serial read can stop mid-line ("FILES=o").
 */
export const ROOT_LINE = /NETRESTORE-ROOT-BYTES=(\d+) FILES=(\w+)(?=\r?\n)/;
export const PARTITION_START = 1024 * 1024;

const NEEDS: Need[] = [
  ['/usr/lib/EXTLINUX/mbr.bin', 'extlinux'],
  ['/usr/bin/extlinux', 'extlinux'],
  ['/usr/sbin/mkfs.ext4', 'e2fsprogs'],
  ['/usr/sbin/sfdisk', 'fdisk'],
  ['/usr/bin/partx', 'util-linux'],
  ['/bin/busybox', 'busybox-static'],
];

/** The drivers the initramfs loads to reach its root, in load order with what they need. */
const ROOT_MODULES = ['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4'];

/** The initramfs: find /dev/vda1, mount it, switch to it. */
const INITRAMFS_INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "initramfs: insmod $m failed"; done
i=0
while [ ! -b /dev/vda1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if ! mount -t ext4 /dev/vda1 /newroot; then
  echo "initramfs: cannot mount /dev/vda1 (ext4) as the root"
  poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`;

/** The root filesystem's init: check the files, say how large the root is, power off. */
const ROOT_INIT = `#!/bin/sh
mount -t proc proc /proc
cd /
if sha256sum -c -s /SHA256SUMS; then files=ok; else files=BAD; sha256sum -c /SHA256SUMS | grep -v ': OK$'; fi
bytes=$(stat -f -c '%b %S' / | awk '{ print $1 * $2 }')
echo
df -k /
echo "NETRESTORE-ROOT-BYTES=$bytes FILES=$files"
echo
sleep 1
poweroff -f
`;

/** The Debian kernel this machine can boot a disk with: /boot/vmlinuz-V with its modules (the newest such). */
export async function bootableKernel(): Promise<{ version: string; vmlinuz: string }> {
  const { readdir } = await import('node:fs/promises');
  const versions = (await readdir('/boot').catch(() => [] as string[]))
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(`/lib/modules/${v}/modules.dep`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.at(-1);
  if (!version) throw new NetrestoreError('DRILL', 'the Linux disk needs a Debian kernel with its modules (/boot/vmlinuz-* and /lib/modules/*): install it with `apt-get install linux-image-amd64`');
  return { version, vmlinuz: `/boot/vmlinuz-${version}` };
}

/** Module files (relative to /lib/modules/V) in an order insmod can load them: each after what it needs. */
export function loadOrder(wanted: readonly string[], modulesDep: string): string[] {
  const deps = new Map<string, { path: string; needs: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(moduleName(path), { path, needs: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  const out: string[] = [];
  const add = (path: string) => {
    if (out.includes(path)) return;
    // modules.dep lists the whole closure, the deepest last: loaded from the end.
    for (const n of [...(deps.get(moduleName(path))?.needs ?? [])].reverse()) if (!out.includes(n)) out.push(n);
    out.push(path);
  };
  for (const w of wanted) {
    const e = deps.get(w);
    if (e) add(e.path); // else built into the kernel
  }
  return out;
}

async function initramfs(kernel: string): Promise<Buffer> {
  const lib = `/lib/modules/${kernel}`;
  const order = loadOrder(ROOT_MODULES, await readFile(join(lib, 'modules.dep'), 'utf8'));
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: await readFile('/bin/busybox'), mode: 0o755 },
    ...['sh', 'mount', 'umount', 'insmod', 'cat', 'echo', 'sleep', 'poweroff', 'switch_root'].map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'newroot' },
    { type: 'dir', path: 'lib' },
    { type: 'dir', path: 'lib/modules' },
  ];
  for (const p of order) {
    // Debian's modules are signed; copied unchanged, flat under /lib/modules.
    const name = p.slice(p.lastIndexOf('/') + 1);
    if (/\.(xz|zst|gz)$/.test(name)) throw new NetrestoreError('DRILL', `${p} is compressed; the Linux disk's busybox insmod loads plain .ko modules only`);
    entries.push({ type: 'file', path: `lib/modules/${name}`, data: await readFile(join(lib, p)) });
  }
  entries.push({ type: 'file', path: 'modules.order', data: Buffer.from(order.map((p) => p.slice(p.lastIndexOf('/') + 1)).join('\n') + '\n') });
  entries.push({ type: 'file', path: 'init', data: Buffer.from(INITRAMFS_INIT), mode: 0o755 });
  return promisify(gzip)(Buffer.concat(cpioArchive(entries)));
}

/** The root filesystem's files, in `dir`, with SHA256SUMS of every regular file. */
async function rootTree(dir: string, o: { vmlinuz: string; kernel: string }): Promise<void> {
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'boot/extlinux', 'etc', 'srv/data']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'bin/busybox'), await readFile('/bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'mount', 'echo', 'cat', 'df', 'stat', 'awk', 'grep', 'sha256sum', 'sleep', 'poweroff']) await symlink('busybox', join(dir, 'bin', a));
  await writeFile(join(dir, 'sbin/init'), ROOT_INIT, { mode: 0o755 });
  await writeFile(join(dir, 'boot/vmlinuz'), await readFile(o.vmlinuz));
  await writeFile(join(dir, 'boot/initrd.gz'), await initramfs(o.kernel));
  await writeFile(join(dir, 'boot/extlinux/extlinux.conf'), 'SERIAL 0 115200\nDEFAULT linux\nTIMEOUT 1\nLABEL linux\n  KERNEL /boot/vmlinuz\n  APPEND initrd=/boot/initrd.gz console=ttyS0,115200 quiet panic=5\n');
  await writeFile(join(dir, 'etc/hostname'), 'netrestore-drill-linux\n');
  // Data a server holds, in files of several sizes: their content must come back byte for byte.
  for (let i = 0; i < 8; i++) {
    const size = 4096 * (1 + i * i * 13);
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j += 32) createHash('sha256').update(`${i}/${j}`).digest().copy(b, j);
    await writeFile(join(dir, `srv/data/file-${i}.bin`), b);
  }
  const sums: string[] = [];
  for (const f of ['bin/busybox', 'sbin/init', 'boot/vmlinuz', 'boot/initrd.gz', 'boot/extlinux/extlinux.conf', 'etc/hostname', ...Array.from({ length: 8 }, (_, i) => `srv/data/file-${i}.bin`)]) {
    sums.push(`${createHash('sha256').update(await readFile(join(dir, f))).digest('hex')}  ${f}`);
  }
  await writeFile(join(dir, 'SHA256SUMS'), sums.join('\n') + '\n');
}

/** Write the Linux disk of `sizeMiB` (default 64) at `path`, booting `kernel`'s vmlinuz. */
export async function buildLinuxDisk(path: string, o: { vmlinuz: string; kernel: string; sizeMiB?: number }): Promise<void> {
  requirePackages('DRILL', NEEDS);
  if (process.getuid?.() !== 0) throw new NetrestoreError('DRILL', 'the Linux disk is made through a loop device and a mount: run as root');
  const size = (o.sizeMiB ?? 64) * 1024 * 1024;
  const work = await mkdtemp(join(tmpdir(), 'netrestore-linux-disk-'));
  const mnt = join(work, 'mnt');
  try {
    await rootTree(join(work, 'root'), o);
    await writeFile(path, Buffer.alloc(0));
    await execa('truncate', ['-s', String(size), path]);
    await execa('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', path], { input: `label: dos\nstart=${PARTITION_START / 512}, type=83, bootable\n` });
    const mbr = await readFile('/usr/lib/EXTLINUX/mbr.bin');
    const fh = await open(path, 'r+');
    try {
      await fh.write(mbr.subarray(0, 440), 0, 440, 0);
    } finally {
      await fh.close();
    }
    await withFirstPartition(path, {}, async (part) => {
      // extlinux reads the partition's start from its node (HDIO_GETGEO) for the boot sector: the node, not an offset loop.
      // 64bit off: extlinux 6.04 cannot read the block group descriptors of a 64-bit ext4.
      await execa('mkfs.ext4', ['-q', '-F', '-L', 'root', '-O', '^64bit', part]);
      await mkdir(mnt);
      await execa('mount', ['-t', 'ext4', part, mnt]);
      try {
        // Copied in, not `mkfs -d`: that keeps a file's zero blocks as holes, and extlinux cannot load a kernel with holes.
        await execa('cp', ['-a', '--sparse=never', `${join(work, 'root')}/.`, mnt]);
        await execa('extlinux', ['--install', join(mnt, 'boot/extlinux')]);
      } finally {
        await execa('umount', [mnt], { reject: false });
      }
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
