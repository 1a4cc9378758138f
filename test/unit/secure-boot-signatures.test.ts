import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commonNames, moduleSigned, peSigners } from '../../src/build-env/signatures.ts';
import { secureBootReport } from '../../src/build-env/secure-boot.ts';

/** A PE32+ header with a certificate table holding `cert` (or none). */
function pe(cert?: Buffer): Buffer {
  const nt = 0x80;
  const opt = nt + 24;
  const dirs = opt + 112;
  const head = Buffer.alloc(dirs + 16 * 8);
  head.write('MZ', 0, 'latin1');
  head.writeUInt32LE(nt, 0x3c);
  head.write('PE\0\0', nt, 'latin1');
  head.writeUInt16LE(0x20b, opt);
  if (!cert) return head;
  head.writeUInt32LE(head.length, dirs + 4 * 8);
  head.writeUInt32LE(cert.length, dirs + 4 * 8 + 4);
  return Buffer.concat([head, cert]);
}
const cn = (name: string, tag = 0x0c) => Buffer.concat([Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03, tag, name.length]), Buffer.from(name)]);

describe('PE signatures', () => {
  it('reads the signer and issuer names of the certificate table, each once', () => {
    const cert = Buffer.concat([Buffer.from([0x30, 0x82]), cn('Debian Secure Boot Signer 2022 - linux'), cn('Debian Secure Boot CA', 0x13), cn('Debian Secure Boot Signer 2022 - linux')]);
    expect(peSigners(pe(cert))).toEqual(['Debian Secure Boot Signer 2022 - linux', 'Debian Secure Boot CA']);
  });

  it('an unsigned PE, a file that is no PE, and a table pointing past the end have no signers', () => {
    expect(peSigners(pe())).toEqual([]);
    expect(peSigners(Buffer.from('#!ipxe\necho not a PE file at all, just text long enough to be read\n'))).toEqual([]);
    const broken = pe(cn('x'));
    broken.writeUInt32LE(broken.length * 2, 0x80 + 24 + 112 + 4 * 8 + 4);
    expect(peSigners(broken)).toEqual([]);
  });

  it('skips names of other string types and long forms', () => {
    expect(commonNames(Buffer.concat([cn('bmp', 0x1e), cn('ok')]))).toEqual(['ok']);
  });

  it.runIf(existsSync('/usr/lib/shim/shimx64.efi.signed'))("Debian's shim is signed by Microsoft, its unsigned build is not", () => {
    expect(peSigners(readFileSync('/usr/lib/shim/shimx64.efi.signed')).some((n) => n.includes('Microsoft'))).toBe(true);
    expect(peSigners(readFileSync('/usr/lib/shim/shimx64.efi'))).toEqual([]);
  });
});

describe('module signatures', () => {
  const body = Buffer.from('\x7fELF module body');
  const signed = Buffer.concat([body, Buffer.from('signature bytes'), Buffer.from('~Module signature appended~\n')]);

  it('a module keeps its appended signature; a stripped one has lost it', () => {
    expect(moduleSigned(signed)).toBe(true);
    expect(moduleSigned(body)).toBe(false);
  });

  it('the report lists unsigned plain modules and the kernel signers', () => {
    const r = secureBootReport(pe(cn('Debian Secure Boot Signer 2022 - linux')), [
      { path: 'lib/modules/6.1/kernel/a.ko', data: signed },
      { path: 'lib/modules/6.1/kernel/b.ko', data: body },
      { path: 'lib/modules/6.1/kernel/c.ko.xz', data: body },
      { path: 'lib/modules/6.1/modules.dep', data: body },
    ]);
    expect(r).toEqual({ kernelSigners: ['Debian Secure Boot Signer 2022 - linux'], unsignedModules: ['lib/modules/6.1/kernel/b.ko'] });
  });
});
