/** The logger keeps secrets out of every event, whatever the call site passed. */
import { describe, expect, it } from 'vitest';
import { createLogger, formatHuman, type LogEvent } from '../../src/log.ts';
import { REDACTED } from '../../src/log-redact.ts';

function logger(level: 'debug' | 'info' = 'debug') {
  const events: LogEvent[] = [];
  const log = createLogger((e) => events.push(e), level);
  return { log, events, all: () => events.map((e) => JSON.stringify(e) + '\n' + formatHuman(e)).join('\n') };
}

describe('redaction at the logger', () => {
  it('redacts fields named for secrets, at any depth, and keeps the rest', () => {
    const { log, events } = logger();
    log.info('x', { password: 'hunter22', token: 'abc', Authorization: 'Bearer zz', cookie: 'sid=1', adminToken: 'q', nested: { menuPassword: 'p', list: [{ apiKey: 'k' }] }, mac: '52:54:00:00:00:01', count: 3 });
    expect(events[0]).toMatchObject({ password: REDACTED, token: REDACTED, Authorization: REDACTED, cookie: REDACTED, adminToken: REDACTED, nested: { menuPassword: REDACTED, list: [{ apiKey: REDACTED }] }, mac: '52:54:00:00:00:01', count: 3 });
  });

  it('takes the password segment out of a TFTP login path, keeping the rest', () => {
    const { log, events } = logger();
    log.info('tftp.done', { file: 'auth/52-54-00-12-34-56/restore/fs01/admin/s3cr%21t.ipxe' });
    log.info('tftp.refused', { file: 'auth/52-54-00-12-34-56/restore/fs01/admin/a/b/c.ipxe', reason: 'no such file: /boot/auth/52-54-00-12-34-56/restore/fs01/pw-only.ipxe' });
    expect(events[0]!.file).toBe(`auth/52-54-00-12-34-56/restore/fs01/admin/${REDACTED}.ipxe`);
    expect(events[1]!.file).toBe(`auth/52-54-00-12-34-56/restore/fs01/${REDACTED}`);
    expect(events[1]!.reason).toBe(`no such file: /boot/auth/52-54-00-12-34-56/restore/fs01/${REDACTED}`);
    expect(JSON.stringify(events)).not.toMatch(/s3cr|pw-only|a\/b\/c/);
  });

  it('takes out query passwords and tokens, kernel command line tokens, bearer credentials and JSON secrets', () => {
    const { log, events } = logger();
    log.info('a', { url: '/auth.ipxe?mac=x&mode=restore&username=admin&password=open%20sesame&x=1' });
    log.info('b', { cmdline: 'netrestore.server=http://s netrestore.token=AbC_dEf-123 netrestore.mode=restore' });
    log.info('c', { header: 'Bearer eyJhbGciOi.x.y', basic: 'got Basic YWRtaW46cHc=' });
    log.info('d', { detail: '{"name":"x","password":"p\\"w","token":"t"}' });
    const text = JSON.stringify(events);
    for (const leaked of ['open%20sesame', 'AbC_dEf-123', 'eyJhbGciOi', 'YWRtaW46cHc', 'p\\\\"w', '"t"']) expect(text).not.toContain(leaked);
    expect(events[0]!.url).toBe(`/auth.ipxe?mac=x&mode=restore&username=admin&password=${REDACTED}&x=1`);
    expect(events[1]!.cmdline).toBe(`netrestore.server=http://s netrestore.token=${REDACTED} netrestore.mode=restore`);
  });

  it('replaces every secret it was told, raw and URI-encoded, under any field and inside errors', () => {
    const { log, all } = logger();
    log.secret('my admin/token!*');
    log.secret('Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4', true);
    log.info('x', { reason: 'bad login with my admin/token!* from somewhere', path: 'auth/m/shell/-/admin/my%20admin%2Ftoken%21%2A.ipxe' });
    log.warn('y', { note: 'session Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4 expired', err: new Error('refused my admin%2Ftoken!* here'), list: ['x Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4'] });
    const text = all();
    expect(text).not.toContain('my admin');
    expect(text).not.toContain('admin%2Ftoken');
    expect(text).not.toContain('Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4');
    expect(text).toContain('session [redacted] expired');
  });

  it('leaves a minted token that is only part of a longer word alone, and ignores too-short secrets', () => {
    const { log, events } = logger();
    log.secret('Zm9vYmFyYmF6cXV4cXV1eDEy', true);
    log.secret('abc');
    log.info('x', { a: 'xZm9vYmFyYmF6cXV4cXV1eDEy', b: 'abc abc' });
    expect(events[0]).toMatchObject({ a: 'xZm9vYmFyYmF6cXV4cXV1eDEy', b: 'abc abc' });
  });

  it('bounds depth, turns buffers into sizes, and respects the level', () => {
    const { log, events } = logger('info');
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 50; i++) at = (at.next = {}) as Record<string, unknown>;
    log.debug('hidden', { password: 'x' });
    log.info('deep', { deep, buf: Buffer.alloc(5) });
    expect(events.map((e) => e.event)).toEqual(['deep']);
    expect(JSON.stringify(events[0])).toContain('[too deep]');
    expect(events[0]!.buf).toBe('[5 bytes]');
  });
});
