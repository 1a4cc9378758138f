/** The TLS and --user keys of the serve configuration: what turns TLS on, and the combinations refused. */
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { tlsOn } from '../../src/config/schema.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';

const refusal = (file: Record<string, unknown>, flags: Record<string, unknown> = {}) => {
  try {
    loadServeConfig(file, flags);
  } catch (e) {
    if (isNetrestoreError(e, 'CONFIG_INVALID')) return e.message;
    throw e;
  }
  return 'accepted';
};

describe('TLS and user configuration', () => {
  it('is off by default, on with --tls auto or with a certificate, on port 8443 unless told', () => {
    expect(tlsOn(loadServeConfig({}, {}))).toBe(false);
    expect(tlsOn(loadServeConfig({}, { tls: 'off' }))).toBe(false);
    expect(tlsOn(loadServeConfig({}, { tls: 'auto' }))).toBe(true);
    const own = loadServeConfig({ tlsCert: '/etc/ssl/a.crt', tlsKey: '/etc/ssl/a.key' }, { httpsPort: 443 });
    expect(tlsOn(own)).toBe(true);
    expect(own.httpsPort).toBe(443);
    expect(loadServeConfig({}, { tls: 'auto' }).httpsPort).toBe(8443);
  });

  it('refuses half a pair, a pair beside --tls, TLS without the HTTP face, and one port for both', () => {
    expect(refusal({ tlsCert: 'a.crt' })).toMatch(/tlsKey \(--tls-key\): give the certificate and its key together/);
    expect(refusal({ tlsKey: 'a.key' })).toMatch(/tlsCert \(--tls-cert\)/);
    expect(refusal({ tlsCert: 'a.crt', tlsKey: 'a.key' }, { tls: 'auto' })).toMatch(/tls \(--tls\): --tls auto and --tls-cert exclude each other/);
    expect(refusal({ tls: 'auto', httpPort: 'off' })).toMatch(/httpPort \(--http-port\)/);
    expect(refusal({ tls: 'auto', httpPort: 8443 })).toMatch(/httpsPort \(--https-port\): must differ from httpPort/);
    expect(refusal({ tls: 'yes' })).toMatch(/tls \(--tls\)/);
  });

  it('takes a user name, and nothing that could be an option or a path', () => {
    expect(loadServeConfig({ user: 'netrestore' }, {}).user).toBe('netrestore');
    for (const bad of ['-x', '../root', 'a b', '']) expect(refusal({ user: bad }), bad).toMatch(/user \(--user\)/);
  });
});
