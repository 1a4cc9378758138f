/**
 * The state machine of one read transfer: RFC 1350 lock-step, RFC 7440
 * windows, block numbers that roll over past 65535, bounded retransmission.
 * Pure: events in, a new state and actions out; the edge owns sockets,
 * timers and file reads.
 *
 * Blocks are counted from 1 without wrapping; only the wire number wraps
 * (abs & 0xffff, so block 65536 goes out as 0, as tftp-hpa and iPXE expect).
 * A duplicate or old ACK never triggers a send: that is what stops the
 * Sorcerer's Apprentice syndrome (RFC 1123 §4.2.3.1).
 */

export interface TransferState {
  readonly blksize: number;
  readonly windowsize: number;
  readonly size: number;
  /** Number of the final block (shorter than blksize, possibly empty). */
  readonly lastBlock: number;
  readonly maxTries: number;
  phase: 'oack' | 'data' | 'done' | 'failed';
  /** Highest block the client acknowledged. */
  acked: number;
  /** Highest block sent so far. */
  sent: number;
  /** Timeouts in a row without progress. */
  tries: number;
}

export type Action =
  | { kind: 'send-oack' }
  | { kind: 'send-data'; from: number; to: number }
  | { kind: 'done' }
  | { kind: 'fail'; reason: string };

export function lastBlockOf(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

export function start(p: { blksize: number; windowsize: number; size: number; withOack: boolean; maxTries: number }): [TransferState, Action[]] {
  const s: TransferState = {
    blksize: p.blksize,
    windowsize: p.windowsize,
    size: p.size,
    lastBlock: lastBlockOf(p.size, p.blksize),
    maxTries: p.maxTries,
    phase: p.withOack ? 'oack' : 'data',
    acked: 0,
    sent: 0,
    tries: 0,
  };
  return p.withOack ? [s, [{ kind: 'send-oack' }]] : [s, [sendWindow(s)]];
}

function sendWindow(s: TransferState): Action {
  const from = s.acked + 1;
  const to = Math.min(s.acked + s.windowsize, s.lastBlock);
  s.sent = Math.max(s.sent, to);
  return { kind: 'send-data', from, to };
}

/** The block this wire number acknowledges, among those sent and not yet acknowledged. */
function resolve(s: TransferState, wire: number): number | undefined {
  for (let abs = s.acked + 1; abs <= s.sent; abs++) if ((abs & 0xffff) === wire) return abs;
  return undefined;
}

export function onAck(prev: TransferState, wire: number): [TransferState, Action[]] {
  const s = { ...prev };
  if (s.phase === 'oack') {
    if (wire !== 0) return [s, []];
    s.phase = 'data';
    s.tries = 0;
    return [s, [sendWindow(s)]];
  }
  if (s.phase !== 'data') return [s, []];
  const abs = resolve(s, wire);
  if (abs === undefined) return [s, []]; // duplicate or stray ACK: never answer it
  s.acked = abs;
  s.tries = 0;
  if (abs === s.lastBlock) {
    s.phase = 'done';
    return [s, [{ kind: 'done' }]];
  }
  // End of window, or a gap the client saw (RFC 7440 §4): continue after the acknowledged block.
  return [s, [sendWindow(s)]];
}

export function onTimeout(prev: TransferState): [TransferState, Action[]] {
  const s = { ...prev };
  if (s.phase === 'done' || s.phase === 'failed') return [s, []];
  s.tries++;
  if (s.tries > s.maxTries) {
    s.phase = 'failed';
    return [s, [{ kind: 'fail', reason: `no acknowledgement after ${s.maxTries} retransmissions` }]];
  }
  if (s.phase === 'oack') return [s, [{ kind: 'send-oack' }]];
  return [s, [sendWindow(s)]];
}

export function onClientError(prev: TransferState, message: string): [TransferState, Action[]] {
  return [{ ...prev, phase: 'failed' }, [{ kind: 'fail', reason: `client aborted: ${message}` }]];
}
