import { describe, expect, it } from 'vitest';
import { PHASES, PHASE_LABELS, measure, phaseLabel, progressClock, progressLine, type Phase } from '../../src/shared/progress.ts';

describe('the progress contract', () => {
  it('gives every phase a label of its own, short enough for an 80-column progress line', () => {
    expect(PHASES).toEqual(['publish', 'check', 'restore', 'verify', 'capture', 'done'] satisfies Phase[]);
    const labels = PHASES.map(phaseLabel);
    for (const [i, l] of labels.entries()) {
      expect(l, PHASES[i]).toMatch(/^[a-z][ -~]*$/); // plain ASCII for serial consoles
      expect(l).not.toBe(PHASES[i]); // a word a person reads, not the phase's own name
      const line = progressLine({ phase: PHASES[i]!, done: 12.3 * 1024 ** 3, total: 400 * 1024 ** 3 }, 100, 80); // 126 MiB/s, ETA 52:37
      expect(line.startsWith(`${l} [`), line).toBe(true); // the whole label fits beside the numbers of a large disk
      expect(line.length).toBeLessThanOrEqual(80);
    }
    expect(new Set(labels).size).toBe(labels.length);
    expect(Object.keys(PHASE_LABELS)).toEqual(PHASES);
  });

  it('measures from the start of each phase and redraws at most every interval, the end of a phase always', () => {
    let t = 0;
    const tick = progressClock(() => t, 500);
    expect(tick({ phase: 'restore', done: 0, total: 100 })).toBe(0);
    t = 200;
    expect(tick({ phase: 'restore', done: 10, total: 100 })).toBeUndefined();
    t = 600;
    expect(tick({ phase: 'restore', done: 20, total: 100 })).toBe(0.6);
    t = 700;
    expect(tick({ phase: 'restore', done: 100, total: 100 })).toBe(0.7);
    t = 800;
    expect(tick({ phase: 'verify', done: 0, total: 100 })).toBe(0); // a new phase: its own clock, drawn at once
    t = 2800;
    expect(tick({ phase: 'verify', done: 50, total: 100 })).toBe(2);
    expect(measure({ phase: 'verify', done: 50, total: 100 }, 2)).toEqual({ frac: 0.5, rate: 25, etaS: 2 });
    expect(measure({ phase: 'capture', done: 0, total: 0 }, 0)).toEqual({ frac: 0, rate: 0, etaS: Infinity });
  });
});
