import { describe, expect, it } from 'vitest';
import { lastBlockOf, onAck, onClientError, onTimeout, start, type Action, type TransferState } from '../../src/tftp/transfer.ts';

const begin = (size: number, blksize = 512, windowsize = 1, withOack = false) => start({ size, blksize, windowsize, withOack, maxTries: 3 });
const data = (from: number, to = from): Action => ({ kind: 'send-data', from, to });

describe('TFTP transfer state machine', () => {
  it('counts blocks so that the last one is short, and empty for an exact multiple', () => {
    expect(lastBlockOf(0, 512)).toBe(1);
    expect(lastBlockOf(511, 512)).toBe(1);
    expect(lastBlockOf(512, 512)).toBe(2);
    expect(lastBlockOf(1024, 512)).toBe(3);
  });

  it('sends block 1 at once without options, and is done at the last ACK', () => {
    let [s, a] = begin(1000);
    expect(a).toEqual([data(1)]);
    [s, a] = onAck(s, 1);
    expect(a).toEqual([data(2)]);
    [s, a] = onAck(s, 2);
    expect(a).toEqual([{ kind: 'done' }]);
    expect(s.phase).toBe('done');
  });

  it('sends the OACK first and data only after ACK 0', () => {
    let [s, a] = begin(100, 1468, 1, true);
    expect(a).toEqual([{ kind: 'send-oack' }]);
    [s, a] = onAck(s, 5);
    expect(a).toEqual([]);
    [s, a] = onAck(s, 0);
    expect(a).toEqual([data(1)]);
  });

  it('never answers a duplicate ACK (no Sorcerer\'s Apprentice)', () => {
    let [s, a] = begin(5000);
    [s, a] = onAck(s, 1);
    expect(a).toEqual([data(2)]);
    [s, a] = onAck(s, 1);
    expect(a).toEqual([]);
    [s, a] = onAck(s, 0);
    expect(a).toEqual([]);
    [s, a] = onAck(s, 2);
    expect(a).toEqual([data(3)]);
  });

  it('retransmits on timeout, a bounded number of times, then fails', () => {
    let [s, a] = begin(5000);
    [s, a] = onAck(s, 1);
    for (let i = 0; i < 3; i++) {
      [s, a] = onTimeout(s);
      expect(a).toEqual([data(2)]);
    }
    [s, a] = onTimeout(s);
    expect(a[0]).toMatchObject({ kind: 'fail' });
    expect(s.phase).toBe('failed');
  });

  it('resets the retry count on progress', () => {
    let [s] = begin(5000);
    [s] = onTimeout(s);
    [s] = onTimeout(s);
    [s] = onAck(s, 1);
    expect(s.tries).toBe(0);
  });

  it('retransmits the OACK when ACK 0 does not come', () => {
    const [s] = begin(10, 512, 1, true);
    expect(onTimeout(s)[1]).toEqual([{ kind: 'send-oack' }]);
  });

  it('sends windows of blocks (RFC 7440) and resends from after the last block the client has', () => {
    let [s, a] = begin(512 * 20, 512, 8);
    expect(a).toEqual([data(1, 8)]);
    [s, a] = onAck(s, 8);
    expect(a).toEqual([data(9, 16)]);
    // Block 12 was lost: the client acknowledges 11, the window restarts at 12.
    [s, a] = onAck(s, 11);
    expect(a).toEqual([data(12, 19)]);
    [s, a] = onAck(s, 19);
    expect(a).toEqual([data(20, 21)]);
    [s, a] = onTimeout(s);
    expect(a).toEqual([data(20, 21)]);
    [s, a] = onAck(s, 21);
    expect(a).toEqual([{ kind: 'done' }]);
  });

  it('rolls block numbers over past 65535 (a 40 MB file at blksize 512)', () => {
    let [s, a]: [TransferState, Action[]] = begin(40_000_000, 512);
    const last = lastBlockOf(40_000_000, 512);
    expect(last).toBe(78126);
    for (let abs = 1; abs < last; abs++) {
      [s, a] = onAck(s, abs & 0xffff);
      expect(a).toEqual([data(abs + 1)]);
    }
    expect(s.acked).toBe(last - 1);
    // A stale ACK for wire number of an old block does not move anything.
    expect(onAck(s, (last - 2) & 0xffff)[1]).toEqual([]);
    [s, a] = onAck(s, last & 0xffff);
    expect(a).toEqual([{ kind: 'done' }]);
  });

  it('stops when the client sends an ERROR', () => {
    const [s] = begin(10);
    const [s2, a] = onClientError(s, 'cancelled');
    expect(s2.phase).toBe('failed');
    expect(a).toEqual([{ kind: 'fail', reason: 'client aborted: cancelled' }]);
  });
});
