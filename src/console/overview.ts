/**
 * What the overview shows: restores and captures running now (with their
 * agents' latest progress), the last failures, the store's usage and the
 * last drill of each image. `liveContext` is the part pushed live.
 */
import { imageChunks } from '../shared/format.ts';
import type { ImageStore } from '../images/store.ts';
import type { Console } from './context.ts';
import { secondsLeft } from './live.ts';
import { PHASE_LABELS } from '../shared/progress.ts';

/** The words a person reads for an agent's phase ("writing the disk"); an unknown one as it came. */
const label = (phase: string): string => (PHASE_LABELS as Record<string, string>)[phase] ?? phase;

export interface RunningRow {
  host: string;
  mac: string | null;
  kind: string;
  image: string;
  state: string;
  phase: string;
  done: number | null;
  total: number | null;
  rate: number | null;
  left: number | null;
  since: number;
}

export function liveContext(c: Console): { running: RunningRow[]; waiting: RunningRow[]; ended: object[]; now: number } {
  const running: RunningRow[] = [];
  const waiting: RunningRow[] = [];
  for (const h of c.state.hosts.list()) {
    const t = c.state.tasks.current(h.mac);
    if (!t) continue;
    const p = c.live.ofTask(t.id);
    const row: RunningRow = {
      host: h.name || h.mac,
      mac: h.mac,
      kind: t.kind,
      image: t.image,
      state: t.state,
      phase: p ? label(p.phase) : (t.state === 'pending' ? 'waiting for the host to boot' : 'started'),
      done: p?.done ?? null,
      total: p?.total ?? null,
      rate: p?.rate ?? null,
      left: p ? secondsLeft(p) : null,
      since: t.updated,
    };
    (t.state === 'started' ? running : waiting).push(row);
  }
  for (const p of c.live.untasked()) {
    running.push({ host: p.from, mac: null, kind: p.mode, image: p.image, state: 'started', phase: label(p.phase), done: p.done, total: p.total, rate: p.rate, left: secondsLeft(p), since: p.at });
  }
  const names = new Map(c.state.hosts.list().map((h) => [h.mac, h.name]));
  const ended = c.state.history.list(8).map((e) => ({ ...e, host: names.get(e.mac) || e.mac, failed: e.result === 'failed', seconds: e.ended ? (e.ended - e.started) / 1000 : null }));
  return { running, waiting, ended, now: Date.now() };
}

export interface StoreUsage {
  images: number;
  /** Bytes of the compressed chunks on disk. */
  stored: number;
  chunks: number;
  /** Bytes of the disks the images hold. */
  logical: number;
  /** logical / stored. */
  ratio: number | null;
}

let usageCache: { at: number; store: ImageStore; usage: StoreUsage } | undefined;

/** The store's usage; walking every chunk costs, so it is cached for half a minute. */
export async function storeUsage(store: ImageStore, now = Date.now()): Promise<StoreUsage> {
  if (usageCache && usageCache.store === store && now - usageCache.at < 30_000) return usageCache.usage;
  const manifests = await store.listManifests();
  let stored = 0;
  let chunks = 0;
  for await (const ch of store.listChunks()) {
    stored += ch.size;
    chunks++;
  }
  const logical = manifests.reduce((n, m) => n + m.source.size, 0);
  const usage = { images: manifests.length, stored, chunks, logical, ratio: stored > 0 ? logical / stored : null };
  usageCache = { at: now, store, usage };
  return usage;
}

/** Forget the cached usage (an image was removed or published from here). */
export function usageChanged(): void {
  usageCache = undefined;
}

export async function overviewContext(c: Console): Promise<Record<string, unknown>> {
  const failures = c.state.history
    .list(500)
    .filter((e) => e.result === 'failed')
    .slice(0, 5);
  const names = new Map(c.state.hosts.list().map((h) => [h.mac, h.name]));
  const manifests = await c.store.listManifests();
  const last = c.drills?.records.lastPerImage() ?? new Map();
  const usage = await storeUsage(c.store);
  return {
    live: liveContext(c),
    failures: failures.map((f) => ({ ...f, host: names.get(f.mac) || f.mac })),
    usage: { ...usage, ratio: usage.ratio === null ? null : usage.ratio.toFixed(2) },
    drills: manifests.map((m) => ({ image: m.name, run: last.get(m.name) ?? null, chunks: new Set(imageChunks(m)).size })),
  };
}
