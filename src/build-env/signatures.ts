/**
 * Signatures the Secure Boot chain relies on, checked before anything is
 * placed: an Authenticode signature in a PE file's certificate table
 * (shim, GRUB, the kernel) and the signature appended to a kernel module.
 * Only their presence and signer names are read here; the firmware, shim
 * and the kernel verify them. Pure: the file's bytes come in.
 */

/** The names (X.509 commonName) in a PE file's certificate table, signers and their issuers; [] when unsigned. */
export function peSigners(pe: Buffer): string[] {
  if (pe.length < 0x40 || pe.toString('latin1', 0, 2) !== 'MZ') return [];
  const nt = pe.readUInt32LE(0x3c);
  if (nt + 24 > pe.length || pe.toString('latin1', nt, nt + 4) !== 'PE\0\0') return [];
  const opt = nt + 24;
  const magic = pe.readUInt16LE(opt);
  // Data directories follow the optional header's fixed part; entry 4 is the certificate table.
  const dirs = opt + (magic === 0x20b ? 112 : magic === 0x10b ? 96 : NaN);
  if (!Number.isFinite(dirs) || dirs + 5 * 8 > pe.length) return [];
  const at = pe.readUInt32LE(dirs + 4 * 8);
  const size = pe.readUInt32LE(dirs + 4 * 8 + 4);
  if (size === 0 || at + size > pe.length) return [];
  return commonNames(pe.subarray(at, at + size));
}

/** Every commonName (OID 2.5.4.3) in DER text, each once, in order. */
export function commonNames(der: Buffer): string[] {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
  const names: string[] = [];
  for (let i = der.indexOf(oid); i >= 0; i = der.indexOf(oid, i + 1)) {
    const tag = der[i + 5];
    const len = der[i + 6];
    // UTF8String, PrintableString, IA5String, BMP is never used by these CAs; short lengths only.
    if ((tag === 0x0c || tag === 0x13 || tag === 0x16) && len !== undefined && len < 0x80) {
      const name = der.toString('utf8', i + 7, i + 7 + len);
      if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

const MODULE_SIGNATURE = Buffer.from('~Module signature appended~\n');

/** Whether a kernel module (uncompressed .ko) still carries its appended signature: stripping removes it. */
export function moduleSigned(ko: Buffer): boolean {
  return ko.length > MODULE_SIGNATURE.length && ko.subarray(ko.length - MODULE_SIGNATURE.length).equals(MODULE_SIGNATURE);
}
