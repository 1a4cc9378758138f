import { execa } from 'execa';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpioArchive, cpioList, type CpioEntry } from '../../src/build-env/cpio.ts';
import { parseLdd } from '../../src/build-env/libraries.ts';
import { STUB_LIBRARIES, stubAssembly, stubVersionScript, undefinedSymbols } from '../../src/build-env/stub-library.ts';
import { moduleName, resolveModules } from '../../src/build-env/modules.ts';

const ENTRIES: CpioEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
  { type: 'symlink', path: 'bin/sh', target: '/bin/busybox' },
  { type: 'dir', path: 'etc' },
  { type: 'file', path: 'etc/empty', data: Buffer.alloc(0) },
  { type: 'file', path: 'etc/odd', data: Buffer.from('abcde') },
  { type: 'char', path: 'console', major: 5, minor: 1 },
];

describe('cpio newc archive', () => {
  it('reads back what was written: paths, modes, data, device numbers', () => {
    const list = cpioList(Buffer.concat(cpioArchive(ENTRIES)));
    expect(list.map((e) => e.path)).toEqual(ENTRIES.map((e) => e.path));
    const hello = list.find((e) => e.path === 'bin/hello')!;
    expect(hello.mode).toBe(0o100755);
    expect(hello.data.toString()).toContain('echo hi');
    expect(list.find((e) => e.path === 'bin/sh')!.data.toString()).toBe('/bin/busybox');
    expect(list.find((e) => e.path === 'console')!.rdev).toEqual([5, 1]);
  });

  it('keeps every header and every file body 4-byte aligned, ends with the trailer, and is the same bytes each time', () => {
    const a = Buffer.concat(cpioArchive(ENTRIES));
    expect(a.length % 4).toBe(0);
    expect(a.includes(Buffer.from('TRAILER!!!'))).toBe(true);
    expect(Buffer.concat(cpioArchive(ENTRIES)).equals(a)).toBe(true);
  });

  it('refuses a path twice, an empty path and ..', () => {
    expect(() => cpioArchive([{ type: 'dir', path: 'a' }, { type: 'dir', path: 'a' }])).toThrow(/twice/);
    expect(() => cpioArchive([{ type: 'dir', path: '../x' }])).toThrow(/bad path/);
    expect(() => cpioArchive([{ type: 'dir', path: '/' }])).toThrow(/bad path/);
  });

  it('unpacks with busybox cpio (a reader that is not ours) into the same tree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-cpio-'));
    try {
      const archive = join(dir, 'a.cpio');
      writeFileSync(archive, Buffer.concat(cpioArchive(ENTRIES.filter((e) => e.type !== 'char'))));
      await execa('sh', ['-c', `cd ${dir} && mkdir out && cd out && busybox cpio -i -d < ../a.cpio`]);
      expect(readFileSync(join(dir, 'out/bin/hello'), 'utf8')).toContain('echo hi');
      expect(statSync(join(dir, 'out/bin/hello')).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(dir, 'out/bin/sh'))).toBe('/bin/busybox');
      expect(readFileSync(join(dir, 'out/etc/odd'), 'utf8')).toBe('abcde');
      expect(statSync(join(dir, 'out/etc/empty')).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel modules for the restore environment', () => {
  const DEP = [
    'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko',
    'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
    'kernel/net/core/failover.ko:',
    'kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/usb/core/usbcore.ko',
    'kernel/drivers/usb/core/usbcore.ko:',
    'kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko',
    'kernel/drivers/nvme/host/nvme-core.ko:',
  ].join('\n');
  const BUILTIN = 'kernel/drivers/tty/serial/8250/8250.ko\nkernel/fs/ext4/ext4.ko\n';

  it('names modules as the kernel does (- and _ alike, any compression)', () => {
    expect(moduleName('kernel/drivers/usb/storage/usb-storage.ko')).toBe('usb_storage');
    expect(moduleName('kernel/x/e1000e.ko.xz')).toBe('e1000e');
    expect(moduleName('kernel/x/nvme-core.ko.zst')).toBe('nvme_core');
  });

  it('takes each wanted module with its whole dependency list, once; built-in and absent ones are told apart', () => {
    const r = resolveModules(['virtio_net', 'usb-storage', 'nvme', 'ext4', 'no_such_driver'], DEP, BUILTIN);
    expect(r.paths).toEqual([
      'kernel/drivers/net/net_failover.ko',
      'kernel/drivers/net/virtio_net.ko',
      'kernel/drivers/nvme/host/nvme-core.ko',
      'kernel/drivers/nvme/host/nvme.ko',
      'kernel/drivers/usb/core/usbcore.ko',
      'kernel/drivers/usb/storage/usb-storage.ko',
      'kernel/net/core/failover.ko',
    ]);
    expect(r.builtin).toEqual(['ext4']);
    expect(r.missing).toEqual(['no_such_driver']);
  });
});

describe('shared libraries of a program', () => {
  it('reads ldd output: libraries and the loader, not the vDSO', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f)',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    expect(parseLdd('\tnot a dynamic executable')).toEqual([]);
  });
});

describe('stand-ins for libraries a program links but never calls', () => {
  const NM = [
    '                 U EVP_DigestFinal@OPENSSL_3.0.0',
    '                 U EVP_sha1@OPENSSL_3.0.0',
    '                 U newwin@NCURSESW6_5.1.20000708',
    '                 U wprintw@NCURSESW6_5.8.20110226',
    '                 U stdscr@NCURSES6_TINFO_5.0.19991023',
    '                 U ext2fs_open',
    '                 w __gmon_start__',
    '                 U EVP_sha1@OPENSSL_3.0.0',
  ].join('\n');

  it('takes the undefined symbols of the versions asked for, once each', () => {
    expect(undefinedSymbols(NM, /^OPENSSL_/)).toEqual([{ name: 'EVP_DigestFinal', version: 'OPENSSL_3.0.0' }, { name: 'EVP_sha1', version: 'OPENSSL_3.0.0' }]);
    expect(undefinedSymbols(NM, /^NCURSESW6_/).map((s) => s.version)).toEqual(['NCURSESW6_5.1.20000708', 'NCURSESW6_5.8.20110226']);
  });

  it('assembles (binutils) into a library with that soname, those versions, and functions that trap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nr-stub-'));
    try {
      const symbols = undefinedSymbols(NM, /^NCURSESW6_/);
      writeFileSync(join(dir, 's.s'), stubAssembly(symbols));
      writeFileSync(join(dir, 's.map'), stubVersionScript(symbols));
      await execa('as', ['-o', join(dir, 's.o'), join(dir, 's.s')]);
      await execa('ld', ['-shared', '-soname', 'libncursesw.so.6', '--version-script', join(dir, 's.map'), '-o', join(dir, 'libncursesw.so.6'), join(dir, 's.o')]);
      const dyn = (await execa('readelf', ['-d', '-W', join(dir, 'libncursesw.so.6')])).stdout;
      expect(dyn).toMatch(/SONAME.*\[libncursesw\.so\.6\]/);
      const syms = (await execa('nm', ['-D', '--defined-only', join(dir, 'libncursesw.so.6')])).stdout;
      expect(syms).toMatch(/T newwin@@NCURSESW6_5\.1\.20000708/);
      expect(syms).toMatch(/T wprintw@@NCURSESW6_5\.8\.20110226/);
      expect(stubAssembly(symbols)).toMatch(/newwin:\n {2}ud2\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stands in only for libcrypto and libncursesw', () => {
    expect(STUB_LIBRARIES.map((l) => l.soname)).toEqual(['libcrypto.so.3', 'libncursesw.so.6']);
  });
});
