/**
 * A small disk that boots and says so: MBR with syslinux, one FAT partition
 * holding the Debian kernel and a busybox initramfs whose init prints a
 * marker and a login prompt on the serial console, then powers off. It boots
 * under BIOS (syslinux in the MBR and the partition) and, when syslinux-efi
 * is installed, under UEFI too (\EFI\BOOT\BOOTX64.EFI); with `secureBoot`,
 * under UEFI with Secure Boot enforced instead: Debian's signed shim as
 * BOOTX64.EFI, Debian's signed GRUB beside it (shim loads grubx64.efi from
 * its own folder), and the kernel given (Debian's is signed). All of it from
 * Debian packages; no loop device, no mount (mtools writes the FAT).
 * The drill's own self-test, and the image CI restores.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { cpioArchive } from '../build-env/cpio.ts';
import { requirePackages, type Need } from '../host-packages.ts';

export const TEST_MARKER = 'NETRESTORE-DRILL-BOOTED';

const NEEDS: Need[] = [
  ['/usr/lib/syslinux/mbr/mbr.bin', 'syslinux-common'],
  ['/usr/bin/syslinux', 'syslinux'],
  ['/usr/bin/mcopy', 'mtools'],
  ['/usr/sbin/mkfs.fat', 'dosfstools'],
  ['/usr/sbin/sfdisk', 'fdisk'],
  ['/bin/busybox', 'busybox-static'],
];

/** UEFI: syslinux.efi as the removable-media loader (package syslinux-efi), with its core module. */
const EFI_LOADER = '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi';
const EFI_LDLINUX = '/usr/lib/syslinux/modules/efi64/ldlinux.e64';

/** The signed first stages of an installed Debian: shim, and the GRUB that boots from a disk. */
const SECURE_BOOT_NEEDS: Need[] = [
  ['/usr/lib/shim/shimx64.efi.signed', 'shim-signed'],
  ['/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'grub-efi-amd64-signed'],
];

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
echo
dmesg | grep -q 'secureboot: Secure boot enabled' && secure=secure-boot=1
echo "${TEST_MARKER} on $(uname -r) $secure"
echo
echo "netrestore-drill login: "
sleep 1
poweroff -f
`;

/** Write a bootable raw disk of `sizeMiB` at `path`, with the kernel `vmlinuz`. */
export async function buildTestImage(path: string, o: { vmlinuz: string; sizeMiB?: number; secureBoot?: boolean }): Promise<void> {
  requirePackages('DRILL', NEEDS);
  const size = (o.sizeMiB ?? 40) * 1024 * 1024;
  const partStart = 1024 * 1024;
  await writeFile(path, Buffer.alloc(0));
  await execa('truncate', ['-s', String(size), path]);
  await execa('sfdisk', ['--no-reread', '--no-tell-kernel', path], { input: 'label: dos\nstart=2048, type=c, bootable\n' });
  const mbr = await readFile('/usr/lib/syslinux/mbr/mbr.bin');
  const fh = await open(path, 'r+');
  try {
    await fh.write(mbr.subarray(0, 440), 0, 440, 0);
  } finally {
    await fh.close();
  }
  await execa('mkfs.fat', ['-F', '16', '-n', 'DRILL', '--offset', String(partStart / 512), path, String((size - partStart) / 1024)]);
  await execa('syslinux', ['--install', '--offset', String(partStart), path]);

  const initrd = await promisify(gzip)(
    Buffer.concat(
      cpioArchive([
        { type: 'dir', path: 'bin' },
        { type: 'file', path: 'bin/busybox', data: await readFile('/bin/busybox'), mode: 0o755 },
        ...['sh', 'mount', 'echo', 'uname', 'sleep', 'poweroff', 'dmesg', 'grep'].map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
        { type: 'dir', path: 'dev' },
        { type: 'char', path: 'dev/console', major: 5, minor: 1 },
        { type: 'dir', path: 'proc' },
        { type: 'file', path: 'init', data: Buffer.from(INIT), mode: 0o755 },
      ]),
    ),
  );
  const dir = `${path}.files`;
  await execa('mkdir', ['-p', dir]);
  await writeFile(join(dir, 'initrd.gz'), initrd);
  await writeFile(join(dir, 'syslinux.cfg'), 'SERIAL 0 115200\nDEFAULT drill\nTIMEOUT 1\nLABEL drill\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.gz console=ttyS0,115200 quiet panic=5\n');
  const img = `${path}@@${partStart}`;
  const mtools = (cmd: string, args: string[]) => execa(cmd, ['-i', img, ...args], { env: { MTOOLS_SKIP_CHECK: '1' } });
  await mtools('mcopy', [o.vmlinuz, '::vmlinuz']);
  await mtools('mcopy', [join(dir, 'initrd.gz'), join(dir, 'syslinux.cfg'), '::']);
  if (o.secureBoot) {
    requirePackages('DRILL', SECURE_BOOT_NEEDS);
    // GRUB looks in its prefix /EFI/debian first, then beside itself.
    const grub = 'set timeout=0\nlinux /vmlinuz console=ttyS0,115200 quiet panic=5\ninitrd /initrd.gz\nboot\n';
    await writeFile(join(dir, 'grub.cfg'), grub);
    await mtools('mmd', ['::EFI', '::EFI/BOOT', '::EFI/debian']);
    await mtools('mcopy', [SECURE_BOOT_NEEDS[0]![0], '::EFI/BOOT/BOOTX64.EFI']);
    await mtools('mcopy', [SECURE_BOOT_NEEDS[1]![0], '::EFI/BOOT/grubx64.efi']);
    await mtools('mcopy', [join(dir, 'grub.cfg'), '::EFI/BOOT/grub.cfg']);
    await mtools('mcopy', [join(dir, 'grub.cfg'), '::EFI/debian/grub.cfg']);
  } else if (existsSync(EFI_LOADER) && existsSync(EFI_LDLINUX)) {
    await mtools('mmd', ['::EFI', '::EFI/BOOT']);
    await mtools('mcopy', [EFI_LOADER, '::EFI/BOOT/BOOTX64.EFI']);
    await mtools('mcopy', [EFI_LDLINUX, join(dir, 'syslinux.cfg'), '::EFI/BOOT/']);
  }
  await execa('rm', ['-rf', dir]);
}
