/**
 * Health and metrics for one running service: what /healthz checks when
 * asked and where the state gauges read from. Kept apart so serve.ts only
 * hands over what it opened.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { ServeConfig } from '../config/schema.ts';
import { DEFAULT_BOOT_FILES } from '../dhcp/boot-target.ts';
import type { ImageStore } from '../images/store.ts';
import type { TftpHooks } from '../metrics/hooks.ts';
import { cached, Metrics, type TaskCount } from '../metrics/metrics.ts';
import { storeSummary } from '../metrics/store-summary.ts';
import { macOfIp } from '../net/arp.ts';
import { bootFilesCheck, stateCheck, storeCheck } from './checks.ts';
import { Health } from './health.ts';

export interface Ops {
  metrics: Metrics;
  health: Health;
}

export function wireOps(o: Ops, c: ServeConfig, db: DatabaseSync, store: ImageStore | undefined): void {
  // The servers say "up" as they start; until then "starting", and "off" when configured off.
  const on = { dhcp: c.dhcp !== 'off', proxy: c.dhcp !== 'off', tftp: c.tftpPort !== 'off', http: c.httpPort !== 'off' };
  for (const [part, yes] of Object.entries(on) as [keyof typeof on, boolean][]) o.health.set(part, yes ? { state: 'down', reason: 'starting' } : { state: 'off' });
  const counts = db.prepare('SELECT kind, state, count(*) AS n FROM tasks GROUP BY kind, state');
  o.metrics.readFrom({
    tasks: () => counts.all() as unknown as TaskCount[],
    store: cached(async () => {
      if (!store) return storeSummary([], []);
      const sizes: number[] = [];
      for await (const ch of store.listChunks()) sizes.push(ch.size);
      return storeSummary(await store.listManifests(), sizes);
    }, 30_000),
  });
  o.health.check('state', () => stateCheck(db));
  o.health.check('store', () => (store ? storeCheck(c.images) : { state: 'off', reason: 'HTTP is off' }));
  const f = DEFAULT_BOOT_FILES;
  o.health.check('bootFiles', () => bootFilesCheck(c.bootDir, [f.bios, f.uefiX64, f.httpX64, c.kernel, c.initrd]));
}

/** TFTP counters, and a finished transfer tells the offer watch that this machine's firmware followed us. */
export function tftpHooks(o: Ops): TftpHooks {
  return {
    transfer: (result, bytes, client) => {
      o.metrics.tftp.transfer(result, bytes, client);
      const mac = macOfIp(client);
      if (mac) o.metrics.watch.followed(mac);
    },
  };
}

export function newOps(): Ops {
  const metrics = new Metrics();
  return { metrics, health: new Health(() => metrics.watch.ignoring(Date.now())) };
}
