import { describe, expect, it } from 'vitest';
import { parsePromText, sample } from '../helpers/prom-text.ts';
import { Metrics } from '../../src/metrics/metrics.ts';

describe('the strict parser of the metrics text used by the tests', () => {
  it('reads what prom-client writes, counters included', async () => {
    const m = new Metrics();
    m.dhcp.request('dhcp', 'DISCOVER');
    m.dhcp.ignored('host is marked ignore');
    m.http.request('GET', '/api/images/:name', 200, 10);
    const f = parsePromText(await m.text());
    expect(sample(f, 'netrestore_dhcp_requests_total', { port: 'dhcp', type: 'DISCOVER' })).toBe(1);
    expect(sample(f, 'netrestore_dhcp_ignored_total', { reason: 'host-ignored' })).toBe(1);
    expect(sample(f, 'netrestore_bytes_served_total', { protocol: 'http' })).toBe(10);
    expect(f.get('netrestore_tasks')!.samples).toEqual([]); // no sources yet: no invented zeros
  });
  it('counts refused menu logins and API tokens from the log events that report them, and passes the events on', async () => {
    const m = new Metrics();
    const seen: string[] = [];
    const log = m.countingLogins({ debug: () => {}, info: () => {}, warn: (e) => void seen.push(e), error: () => {}, secret: () => {} });
    log.warn('boot.login-failed', { mac: 'aa' });
    log.warn('boot.login-failed', { mac: 'aa' });
    log.warn('http.login-failed', {});
    log.warn('something.else', {});
    const f = parsePromText(await m.text());
    expect(sample(f, 'netrestore_login_failures_total', { where: 'menu' })).toBe(2);
    expect(sample(f, 'netrestore_login_failures_total', { where: 'api' })).toBe(1);
    expect(seen).toEqual(['boot.login-failed', 'boot.login-failed', 'http.login-failed', 'something.else']);
  });
  it.each([
    ['no final newline', '# TYPE a counter\na 1'],
    ['a sample before its TYPE', 'a 1\n# TYPE a counter\n'],
    ['a family split in two', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['a bad value', '# TYPE a gauge\na one\n'],
    ['a bad escape', '# TYPE a gauge\na{x="\\q"} 1\n'],
    ['a duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['a negative counter', '# TYPE a counter\na -1\n'],
    ['an unterminated label', '# TYPE a gauge\na{x="1} 1\n'],
    ['a bad type', '# TYPE a meter\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePromText(text)).toThrow();
  });
});
