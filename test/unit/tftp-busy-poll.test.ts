/**
 * The TFTP busy poll: it keeps the event loop turning for its budget after
 * the last send, then stops by itself; one loop however many transfers kick
 * it; a budget of 0 never spins.
 */
import { describe, expect, it } from 'vitest';
import { BusyPoll } from '../../src/tftp/busy-poll.ts';

function fakeLoop() {
  let now = 0;
  const queue: (() => void)[] = [];
  return {
    deps: { now: () => now, schedule: (f: () => void) => void queue.push(f) },
    pending: () => queue.length,
    /** One turn of the event loop, `ms` after the last. */
    turn(ms: number) {
      now += ms;
      const due = queue.splice(0);
      for (const f of due) f();
    },
  };
}

describe('TFTP busy poll', () => {
  it('keeps turning for the budget after a send, then stops by itself', () => {
    const loop = fakeLoop();
    const poll = new BusyPoll(2, loop.deps);
    poll.kick();
    expect(poll.spinning).toBe(true);
    loop.turn(1.5);
    expect(loop.pending()).toBe(1);
    loop.turn(1);
    expect(loop.pending()).toBe(0);
    expect(poll.spinning).toBe(false);
  });

  it('a send within the budget extends it; many kicks run one loop', () => {
    const loop = fakeLoop();
    const poll = new BusyPoll(2, loop.deps);
    poll.kick();
    for (let i = 0; i < 10; i++) {
      loop.turn(1);
      poll.kick();
      poll.kick();
      expect(loop.pending()).toBe(1);
    }
    loop.turn(3);
    expect(poll.spinning).toBe(false);
    expect(loop.pending()).toBe(0);
  });

  it('with a budget of 0 never spins', () => {
    const loop = fakeLoop();
    const poll = new BusyPoll(0, loop.deps);
    poll.kick();
    expect(poll.spinning).toBe(false);
    expect(loop.pending()).toBe(0);
  });
});
