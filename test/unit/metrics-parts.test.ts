import { describe, expect, it } from 'vitest';
import { reasonClass } from '../../src/metrics/dhcp-reasons.ts';
import { OfferWatch, OFFERS_BEFORE_FLAG } from '../../src/metrics/offer-watch.ts';
import { storeSummary } from '../../src/metrics/store-summary.ts';
import { parseArp } from '../../src/net/arp.ts';
import { Health } from '../../src/health/health.ts';

describe('DHCP reasons as labels', () => {
  it('maps the decision sentences to a few labels', () => {
    expect(reasonClass('not a PXE client (proxy mode answers PXE clients only)')).toBe('not-pxe');
    expect(reasonClass('host is marked ignore')).toBe('host-ignored');
    expect(reasonClass('REQUEST on port 67 is for the site\'s DHCP server')).toBe('not-for-us');
    expect(reasonClass('client chose server 10.0.0.9')).toBe('other-server');
    expect(reasonClass('the address pool is exhausted')).toBe('pool-exhausted');
    expect(reasonClass('client architecture 99 has no boot file')).toBe('no-boot-target');
  });
});

describe('offer watch', () => {
  it('names a MAC after repeated offers without a follow-up, and forgets one that followed', () => {
    const w = new OfferWatch();
    for (let i = 0; i < OFFERS_BEFORE_FLAG; i++) w.offered('aa', 1000 + i);
    w.offered('bb', 1000);
    w.offered('bb', 1001);
    w.offered('bb', 1002);
    w.followed('bb');
    expect(w.ignoring(2000)).toEqual([{ mac: 'aa', offers: 3, since: new Date(1000).toISOString() }]);
    expect(w.ignoring(1000 + 16 * 60_000)).toEqual([]); // forgotten after a quiet while
  });
});

describe('store summary', () => {
  it('divides the data the images hold by the bytes stored', () => {
    const m = (size: number, free: number, zero: number) => ({ source: { size }, totals: { free, zero } }) as never;
    expect(storeSummary([m(1000, 200, 100), m(1000, 200, 100)], [350, 350])).toEqual({ images: 2, storedBytes: 700, logicalBytes: 1400, dedupRatio: 2 });
    expect(storeSummary([], []).dedupRatio).toBe(0);
  });
});

describe('/proc/net/arp', () => {
  it('reads complete entries only', () => {
    const text = 'IP address       HW type     Flags       HW address            Mask     Device\n10.0.0.5         0x1         0x2         52:54:00:AB:cd:ef     *        eth0\n10.0.0.6         0x1         0x0         00:00:00:00:00:00     *        eth0\n';
    expect([...parseArp(text)]).toEqual([['10.0.0.5', '52:54:00:ab:cd:ef']]);
  });
});

describe('health', () => {
  it('is ok only when no part is down; a failing check is down with its reason', async () => {
    const h = new Health();
    h.set('dhcp', { state: 'up' });
    h.set('tftp', { state: 'off' });
    expect((await h.report()).ok).toBe(true);
    h.check('store', () => {
      throw new Error('disk gone');
    });
    const r = await h.report();
    expect(r.ok).toBe(false);
    expect(r.parts.store).toEqual({ state: 'down', reason: 'disk gone' });
  });
});
