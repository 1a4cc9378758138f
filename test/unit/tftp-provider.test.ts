import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPath, DirectoryProvider, LayeredProvider, netasciiFile, toNetascii, virtualMap } from '../../src/tftp/provider.ts';

const root = mkdtempSync(join(tmpdir(), 'nr-prov-'));
const outside = mkdtempSync(join(tmpdir(), 'nr-outside-'));
mkdirSync(join(root, 'efi'));
writeFileSync(join(root, 'efi', 'snponly.efi'), 'EFI');
writeFileSync(join(outside, 'secret'), 'secret');
symlinkSync(join(outside, 'secret'), join(root, 'leak'));
symlinkSync(outside, join(root, 'outdir'));
symlinkSync('efi/snponly.efi', join(root, 'inside-link'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});
const ctx = { client: { address: '10.0.0.9', port: 2000 } };

describe('TFTP file provider', () => {
  const dir = new DirectoryProvider(root);

  it('serves files under the root, with ./ and doubled slashes folded', async () => {
    for (const p of ['efi/snponly.efi', './efi//snponly.efi', 'inside-link']) {
      const f = await dir.open(p);
      expect((await f.read(0, 100)).toString()).toBe('EFI');
      await f.close();
    }
  });

  it.each([
    ['../etc/passwd', 'access'],
    ['efi/../../x', 'access'],
    ['/etc/passwd', 'access'],
    ['efi\\snponly.efi', 'access'],
    ['efi/snponly.efi\0.txt', 'access'],
    ['leak', 'access'],
    ['outdir/secret', 'access'],
    ['missing.efi', 'not-found'],
    ['efi', 'not-found'],
  ])('refuses %s (%s)', async (path, kind) => {
    const err = await dir.open(path).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: kind === 'access' ? 'BOOT_FILE_DENIED' : 'BOOT_FILE_NOT_FOUND' });
  });

  it('checks text before touching the disk', () => {
    expect(checkPath('a/./b')).toBe('a/b');
    expect(() => checkPath('')).toThrow(expect.objectContaining({ code: 'BOOT_FILE_NOT_FOUND' }));
  });

  it('puts virtual files in front of the directory, made per request', async () => {
    const p = new LayeredProvider(virtualMap(new Map([['boot.ipxe', (c: { client: { address: string } }) => Buffer.from(`#!ipxe\necho ${c.client.address}\n`)]])), dir);
    const f = await p.open('boot.ipxe', ctx);
    expect((await f.read(0, f.size)).toString()).toBe('#!ipxe\necho 10.0.0.9\n');
    expect((await p.open('efi/snponly.efi', ctx)).size).toBe(3);
    await expect(p.open('../boot.ipxe', ctx)).rejects.toMatchObject({ code: 'BOOT_FILE_DENIED' });
  });

  it('converts to netascii: LF to CR LF, CR to CR NUL', async () => {
    expect(toNetascii(Buffer.from('a\nb\rc'))).toEqual(Buffer.from('a\r\nb\r\0c', 'latin1'));
    const f = await netasciiFile(await dir.open('efi/snponly.efi'));
    expect(f.size).toBe(3);
  });
});
