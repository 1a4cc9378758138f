/**
 * Option negotiation for a read request: RFC 2347 (OACK), RFC 2348 blksize,
 * RFC 2349 timeout and tsize, RFC 7440 windowsize. Options we do not know or
 * whose values are out of range are left out of the OACK, which RFC 2347
 * allows; the transfer then runs with the default.
 */

export interface TransferParams {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** The OACK to send, or null when the client asked for no option we accept. */
  oack: Record<string, string> | null;
}

export interface Limits {
  /** Largest block we agree to (RFC 2348 allows up to 65464). */
  maxBlksize: number;
  maxWindowsize: number;
  defaultTimeoutMs: number;
}

export const DEFAULT_LIMITS: Limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000 };

const int = (v: string | undefined): number | undefined => (v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined);

export function negotiate(options: Record<string, string>, fileSize: number, limits: Limits = DEFAULT_LIMITS): TransferParams {
  const oack: Record<string, string> = {};
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs = limits.defaultTimeoutMs;

  const b = int(options['blksize']);
  if (b !== undefined && b >= 8) {
    // RFC 2348: the server may answer with a smaller value, never a larger one.
    blksize = Math.min(b, limits.maxBlksize);
    oack['blksize'] = String(blksize);
  }
  const t = int(options['timeout']);
  if (t !== undefined && t >= 1 && t <= 255) {
    timeoutMs = t * 1000;
    oack['timeout'] = String(t);
  }
  if (int(options['tsize']) !== undefined) oack['tsize'] = String(fileSize);
  const w = int(options['windowsize']);
  if (w !== undefined && w >= 1 && w <= 65535) {
    windowsize = Math.min(w, limits.maxWindowsize);
    oack['windowsize'] = String(windowsize);
  }
  return { blksize, windowsize, timeoutMs, oack: Object.keys(oack).length ? oack : null };
}
