import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';
import { formatHuman } from '../../src/log.ts';
import { localNetwork } from '../../src/net/interfaces.ts';

const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (isNetrestoreError(e)) return e;
    throw e;
  }
  throw new Error('no error');
};

describe('configuration', () => {
  it('has safe defaults: ProxyDHCP (never hands out addresses), TFTP 69, HTTP 8080', () => {
    const c = loadServeConfig({}, {});
    expect(c).toMatchObject({ listen: '0.0.0.0', dhcp: 'proxy', dhcpPort: 67, proxyPort: 4011, tftpPort: 69, httpPort: 8080, bootDir: 'boot-assets/dist', images: 'images' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lets flags override the file, and ignores flags that were not given', () => {
    const c = loadServeConfig({ dhcp: 'full', pool: '10.0.0.10-10.0.0.20', tftpPort: 1069 }, { tftpPort: 2069, httpPort: undefined });
    expect(c.tftpPort).toBe(2069);
    expect(c.httpPort).toBe(8080);
    expect(c.dhcp).toBe('full');
  });

  it('parses the pool once, into its first and last address', () => {
    const c = loadServeConfig({ dhcp: 'full', pool: '10.0.0.10-10.0.0.20' }, {});
    expect(c.pool).toEqual({ first: '10.0.0.10', last: '10.0.0.20' });
    expect(Object.isFrozen(c.pool)).toBe(true);
    expect(loadServeConfig({ pool: '10.0.0.7-10.0.0.7' }, {}).pool).toEqual({ first: '10.0.0.7', last: '10.0.0.7' });
    expect(loadServeConfig({}, {}).pool).toBeUndefined();
  });

  it.each([
    [{ dhcp: 'maybe' }, /^invalid configuration: dhcp \(--dhcp\): .*"proxy"/],
    [{ dhcpPort: 70000 }, /dhcpPort \(--dhcp-port\): /],
    [{ tftpPort: 'none' }, /tftpPort \(--tftp-port\): /],
    [{ listen: '300.1.1.1' }, /listen \(--listen\): an IPv4 address/],
    [{ dhcp: 'full' }, /pool \(--pool\): full DHCP mode needs an address pool/],
    [{ dhcp: 'full', pool: '10.0.0.9-10.0.0.1' }, /first address 10\.0\.0\.9 is after its last 10\.0\.0\.1/],
    [{ pool: 'lots' }, /pool \(--pool\): FIRST-LAST/],
    [{ pool: '10.0.0.1-' }, /pool \(--pool\): FIRST-LAST/],
    [{ pool: '10.0.0.1-10.0.0.300' }, /pool \(--pool\): FIRST-LAST/],
    [{ pool: '10.0.0.1-10.0.0.2-10.0.0.3' }, /pool \(--pool\): FIRST-LAST/],
    [{ pool: 42 }, /pool \(--pool\): /],
    [{ colour: 'blue' }, /unknown key\(s\): colour/],
  ])('refuses %j with a message that names the key', (file, message) => {
    const e = err(() => loadServeConfig(file, {}));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toMatch(message);
  });
});

describe('local network', () => {
  const eth = (address: string) => [{ address, netmask: '255.255.255.0', family: 'IPv4' as const, internal: false, mac: '', cidr: null }];
  const lo = [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, internal: true, mac: '', cidr: null }];

  it('takes the only network as the one to serve', () => {
    expect(localNetwork({ lo, eth0: eth('10.0.0.1') }, { listen: '0.0.0.0' })).toEqual({ ifname: 'eth0', address: '10.0.0.1', netmask: '255.255.255.0', multiHomed: false });
  });

  it('asks to choose on a machine with several networks', () => {
    const e = err(() => localNetwork({ lo, eth0: eth('10.0.0.1'), eth1: eth('192.168.1.1') }, { listen: '0.0.0.0' }));
    expect(e.message).toMatch(/several networks \(eth0, eth1\); choose one with --interface/);
    expect(localNetwork({ eth0: eth('10.0.0.1'), eth1: eth('192.168.1.1') }, { listen: '0.0.0.0', interface: 'eth1' }).address).toBe('192.168.1.1');
    expect(localNetwork({ eth0: eth('10.0.0.1'), eth1: eth('192.168.1.1') }, { listen: '192.168.1.1' }).ifname).toBe('eth1');
  });

  it('names a missing interface and lists the ones there are', () => {
    expect(err(() => localNetwork({ lo, eth0: eth('10.0.0.1') }, { listen: '0.0.0.0', interface: 'eth9' })).message).toMatch(/no network interface named eth9.*have: lo, eth0/);
  });
});

describe('logs', () => {
  it('prints one human line per event on a terminal', () => {
    const line = formatHuman({ time: '2026-11-24T18:00:01.000Z', level: 'info', event: 'tftp.done', file: 'undionly.kpxe', client: '10.0.0.5:2070', note: 'two words' });
    expect(line).toBe('18:00:01 INFO  tftp.done file=undionly.kpxe client=10.0.0.5:2070 note="two words"');
  });
});
