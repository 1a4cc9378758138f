/**
 * A certificate's SHA-256 fingerprint as netrestore writes it: `sha256:` and
 * 64 lowercase hex digits, on the kernel command line (netrestore.tls=) and
 * after --fingerprint. openssl's and Node's colon-separated uppercase form
 * is taken too, so a fingerprint can be pasted from either. Pure.
 */

/** The 64 hex digits of a fingerprint in any accepted spelling, or undefined when it is not one. */
export function parseFingerprint(text: string): string | undefined {
  const body = text.trim().replace(/^sha256[:=]/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(body) ? body : undefined;
}

/** `sha256:HEX`, the form netrestore prints. */
export function formatFingerprint(hex: string): string {
  return `sha256:${hex.replace(/:/g, '').toLowerCase()}`;
}
