import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { createLogger, type LogEvent } from '../../src/log.ts';
import { serveOnLink } from '../../src/net/link-watch.ts';
import type { LinkSnapshot } from '../../src/net/link.ts';
import { planReload } from '../../src/service/reload.ts';

const tick = () => new Promise((r) => setTimeout(r, 60));

describe('serveOnLink', () => {
  it('waits, starts, keeps through a flap, restarts on a new address, and hands a failed restart to onFatal', async () => {
    const c = loadServeConfig({ interface: 'eth9', dhcp: 'off' }, {});
    const events: LogEvent[] = [];
    const log = createLogger((e) => events.push(e));
    let snap: LinkSnapshot = { name: 'eth9', exists: true, ifindex: 4, adminUp: true, carrier: false };
    const starts: string[] = [];
    let closes = 0;
    let failNext = false;
    const fatal: unknown[] = [];
    const running = await serveOnLink(
      c,
      log,
      async (_c, _log, ifaces) => {
        if (failNext) throw new Error('port taken');
        starts.push(ifaces.eth9![0]!.address);
        return { close: async () => void closes++, stop: async () => [], reload: (next) => planReload(next, next) };
      },
      { pollMs: 5, read: () => snap, onFatal: (e) => fatal.push(e) },
    );
    expect(events.map((e) => e.event)).toEqual(['link.waiting']);
    expect(starts).toEqual([]);

    snap = { ...snap, carrier: true, ipv4: { address: '10.0.0.1', netmask: '255.255.255.0' } };
    await tick();
    expect(starts).toEqual(['10.0.0.1']);
    snap = { ...snap, carrier: false, ipv4: undefined };
    await tick();
    snap = { ...snap, carrier: true, ipv4: { address: '10.0.0.1', netmask: '255.255.255.0' } };
    await tick();
    expect(starts).toEqual(['10.0.0.1']);
    expect(events.filter((e) => e.event === 'link.state').map((e) => `${String(e.from)}>${String(e.to)}`)).toEqual(['no-carrier>up', 'up>no-carrier', 'no-carrier>up']);

    snap = { ...snap, ipv4: { address: '10.0.0.2', netmask: '255.255.255.0' } };
    await tick();
    expect(starts).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(closes).toBe(1);

    failNext = true;
    snap = { ...snap, ipv4: { address: '10.0.0.3', netmask: '255.255.255.0' } };
    await tick();
    expect(fatal.map((e) => (e as Error).message)).toEqual(['port taken']);
    await running.close();
  });

  it('refuses an interface that does not exist', async () => {
    const c = loadServeConfig({ interface: 'nosuch0', dhcp: 'off' }, {});
    await expect(serveOnLink(c, createLogger(() => {}), async () => ({ close: async () => {}, stop: async () => [], reload: (next) => planReload(next, next) }), { read: (name) => ({ name, exists: false, carrier: false }), onFatal: () => {} })).rejects.toMatchObject({ code: 'INTERFACE_UNKNOWN' });
  });
});
