/**
 * The agents' progress reports as they arrive (POST /api/progress), kept per
 * task (or per agent and image when a restore runs without a task) for the
 * overview, and a change signal for its server-sent events.
 */
import { EventEmitter } from 'node:events';
import type { ProgressReport } from '../http/schemas.ts';

export interface LiveReport {
  key: string;
  task: number | null;
  mode: string;
  image: string;
  phase: string;
  done: number;
  total: number;
  /** Bytes a second since the agent began; null before it knows. */
  rate: number | null;
  from: string;
  at: number;
}

/** A report unheard of for this long is an agent gone quiet: no longer "running". */
const STALE_MS = 10 * 60_000;

export class LiveProgress extends EventEmitter<{ change: [] }> {
  readonly #reports = new Map<string, LiveReport>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    super();
    this.#now = now;
    this.setMaxListeners(0);
  }

  report(b: ProgressReport, from: string): void {
    const image = b.image ?? '?';
    const key = b.task ? `task-${b.task}` : `${from}-${image}`;
    this.#reports.set(key, {
      key,
      task: b.task ?? null,
      mode: b.mode ?? 'restore',
      image,
      phase: b.phase ?? '?',
      done: b.done ?? 0,
      total: b.total ?? 0,
      rate: b.rate ?? null,
      from,
      at: this.#now(),
    });
    this.emit('change');
  }

  /** The latest report of a task, if it sent one lately. */
  ofTask(task: number): LiveReport | undefined {
    const r = this.#reports.get(`task-${task}`);
    return r && this.#now() - r.at < STALE_MS ? r : undefined;
  }

  /** Reports of runs without a task (a restore started by hand), still running. */
  untasked(): LiveReport[] {
    const now = this.#now();
    return [...this.#reports.values()].filter((r) => r.task === null && r.phase !== 'done' && now - r.at < STALE_MS);
  }

  /** Forget what ended, so the map stays small. */
  forget(task: number): void {
    this.#reports.delete(`task-${task}`);
  }
}

/** Seconds left at the report's rate; null when it cannot be told. Pure. */
export function secondsLeft(r: Pick<LiveReport, 'done' | 'total' | 'rate'>): number | null {
  if (!r.rate || r.rate <= 0 || r.total <= 0 || r.done >= r.total) return null;
  return Math.round((r.total - r.done) / r.rate);
}
