/** The pure parts of build-env --non-free-firmware: the machine's Debian mirror, and which package holds which firmware file. */
import { describe, expect, it } from 'vitest';
import { debianMirror, packagesFor } from '../../src/build-env/nonfree-firmware.ts';
import { sizeAgainstGoal } from '../../src/commands/build-env.ts';

describe('debianMirror', () => {
  it('reads deb822 .sources, skipping the security archive and disabled stanzas', () => {
    const sources = `Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: bookworm

Types: deb
URIs: http://ftp.de.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main
`;
    expect(debianMirror([sources])).toBe('http://ftp.de.debian.org/debian');
  });

  it('reads one-line sources.list with options', () => {
    expect(debianMirror(['# comment\ndeb http://deb.debian.org/debian-security bookworm-security main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n'])).toBe('http://mirror.example/debian');
    expect(debianMirror(['# nothing here\n'])).toBeUndefined();
  });
});

describe('packagesFor', () => {
  const contents = [
    'lib/firmware/bnx2/bnx2-mips-09-6.2.1b.fw                non-free-firmware/kernel/firmware-bnx2',
    'lib/firmware/bnx2x/bnx2x-e2-7.13.21.0.fw                non-free-firmware/kernel/firmware-bnx2x',
    'lib/firmware/rtl_nic/rtl8168h-2.fw                      non-free-firmware/kernel/firmware-realtek,non-free-firmware/kernel/firmware-misc-nonfree',
    'usr/share/doc/firmware-bnx2/copyright                   non-free-firmware/kernel/firmware-bnx2',
  ].join('\n');

  it('groups the wanted files by the package that holds them, and names those no package holds', () => {
    const r = packagesFor(['bnx2/bnx2-mips-09-6.2.1b.fw', 'bnx2x/bnx2x-e2-7.13.21.0.fw', 'rtl_nic/rtl8168h-2.fw', 'tigon/tg3.bin'], contents);
    expect(Object.fromEntries(r.packages)).toEqual({ 'firmware-bnx2': ['bnx2/bnx2-mips-09-6.2.1b.fw'], 'firmware-bnx2x': ['bnx2x/bnx2x-e2-7.13.21.0.fw'], 'firmware-realtek': ['rtl_nic/rtl8168h-2.fw'] });
    expect(r.notInComponent).toEqual(['tigon/tg3.bin']);
  });
});

describe('sizeAgainstGoal', () => {
  it('says met, or by how much it is missed', () => {
    expect(sizeAgainstGoal(49_500_000)).toBe('49.5 MB; goal ≤ 50 MB: met');
    expect(sizeAgainstGoal(53_240_000)).toBe('53.2 MB; goal ≤ 50 MB: NOT met, 3.2 MB over');
  });
});
