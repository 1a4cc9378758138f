/**
 * The progress contract of long work (publish, image check, restore,
 * capture): one shape, one typed set of phases with the words a person
 * reads for each, and the bar and time-left maths that the admin's terminal
 * (one line redrawn in place) and the agent's console (a full screen) share.
 */

/** Every phase any work reports; a phase without a label does not compile. */
export const PHASE_LABELS = {
  publish: 'storing the disk',
  check: 'checking the image',
  restore: 'writing the disk',
  verify: 'verifying the disk',
  capture: 'capturing the disk',
  done: 'finished',
} as const satisfies Record<string, string>;

export type Phase = keyof typeof PHASE_LABELS;
export const PHASES = Object.keys(PHASE_LABELS) as Phase[];

export interface Progress<P extends Phase = Phase> {
  phase: P;
  done: number;
  total: number;
}

export const phaseLabel = (p: Phase): string => PHASE_LABELS[p];

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** How far, how fast and how long still, `elapsedS` seconds into the phase. A total of 0 is not known yet: 0 %. */
export function measure(p: Progress, elapsedS: number): { frac: number; rate: number; etaS: number } {
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  const rate = elapsedS > 0 ? p.done / elapsedS : 0;
  const etaS = rate > 0 ? Math.max(0, p.total - p.done) / rate : Infinity;
  return { frac, rate, etaS };
}

export const percent = (frac: number): string => `${(frac * 100).toFixed(0).padStart(3)}%`;

export function bar(frac: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, frac)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * When to redraw, and the seconds into the phase to draw with: rate and time
 * left count from the start of each phase (a restore's read-back starts
 * again from 0 bytes), a new phase and the end of one draw at once, the rest
 * at most every `everyMs`.
 */
export function progressClock(now: () => number, everyMs: number): (p: Progress) => number | undefined {
  let phase: Phase | undefined;
  let t0 = 0;
  let last = -Infinity;
  return (p) => {
    const t = now();
    if (p.phase !== phase) {
      phase = p.phase;
      t0 = t;
      last = -Infinity;
    }
    if (t - last < everyMs && p.done < p.total) return undefined;
    last = t;
    return (t - t0) / 1000;
  };
}

/** The terminal line, pure, for a given width: label, bar, percent, bytes, rate, time left. */
export function progressLine(p: Progress, elapsedS: number, width = 80): string {
  const { frac, rate, etaS } = measure(p, elapsedS);
  const tail = ` ${percent(frac)} ${formatBytes(p.done)}/${formatBytes(p.total)} ${formatBytes(rate)}/s ETA ${formatDuration(etaS)}`;
  const label = phaseLabel(p.phase);
  // The bar keeps 10 columns at least; a narrow terminal cuts the label, so the line never wraps.
  const room = Math.max(0, width - tail.length - 14);
  const head = `${label.length > room ? label.slice(0, room) : label} `;
  const barWidth = Math.max(10, width - head.length - tail.length - 3);
  return `${head}${bar(frac, barWidth)}${tail}`;
}

/** Progress on the admin's terminal; nothing on a non-terminal (logs and --json stay clean). */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, now: () => number = () => performance.now()): { update(p: Progress): void; end(): void } {
  if (!stream.isTTY) return { update() {}, end() {} };
  const tick = progressClock(now, 200);
  return {
    update(p) {
      const elapsedS = tick(p);
      if (elapsedS !== undefined) stream.write(`\r${progressLine(p, elapsedS, stream.columns || 80)}`);
    },
    end() {
      stream.write('\n');
    },
  };
}
