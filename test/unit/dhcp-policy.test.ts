import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.ts';
import { dhcpPolicy } from '../../src/dhcp/policy.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';

const SERVER = '10.0.0.1';
const MASK = '255.255.255.0';

describe('DHCP policy from the configuration', () => {
  it('proxy mode: boot info only, with the ports that are on', () => {
    const p = dhcpPolicy(loadServeConfig({}, {}), SERVER, MASK);
    expect(p.mode).toBe('proxy');
    expect(p.full).toBeUndefined();
    expect(p.boot).toMatchObject({ serverIp: SERVER, httpPort: 8080, tftpPort: 69 });
    expect(dhcpPolicy(loadServeConfig({ httpPort: 'off', tftpPort: 1069 }, {}), SERVER, MASK).boot).toMatchObject({ httpPort: null, tftpPort: 1069 });
    expect(dhcpPolicy(loadServeConfig({ tftpPort: 'off' }, {}), SERVER, MASK).boot).toMatchObject({ httpPort: 8080, tftpPort: null });
  });

  it('full mode: the parsed pool, the network mask, and the addresses never handed out', () => {
    const c = loadServeConfig({ dhcp: 'full', pool: '10.0.0.100-10.0.0.200', router: '10.0.0.254', dns: ['10.0.0.53'], leaseTime: 600 }, {});
    const p = dhcpPolicy(c, SERVER, MASK);
    expect(p.mode).toBe('full');
    expect(p.full).toEqual({
      pool: { first: '10.0.0.100', last: '10.0.0.200', subnetMask: MASK, reserved: [SERVER, '10.0.0.254', '10.0.0.53'] },
      router: '10.0.0.254',
      dns: ['10.0.0.53'],
      domain: undefined,
      leaseSeconds: 600,
    });
    expect(dhcpPolicy({ ...c, subnetMask: '255.255.0.0' }, SERVER, MASK).full?.pool.subnetMask).toBe('255.255.0.0');
  });

  it('UEFI x64 PXE: the signed chain by default in full mode, iPXE in proxy mode (GRUB ignores ProxyDHCP), the admin\'s choice over both', () => {
    const full = { dhcp: 'full', pool: '10.0.0.100-10.0.0.200' } as const;
    expect(dhcpPolicy(loadServeConfig({}, {}), SERVER, MASK).boot.uefiBoot).toBe('ipxe');
    expect(dhcpPolicy(loadServeConfig(full, {}), SERVER, MASK).boot.uefiBoot).toBe('shim');
    expect(dhcpPolicy(loadServeConfig({ uefiBoot: 'shim' }, {}), SERVER, MASK).boot.uefiBoot).toBe('shim');
    expect(dhcpPolicy(loadServeConfig({ ...full, uefiBoot: 'ipxe' }, {}), SERVER, MASK).boot.uefiBoot).toBe('ipxe');
  });

  it('refuses a pool that is not on the server\'s network, unless the mask says it is', () => {
    const c = loadServeConfig({ dhcp: 'full', pool: '10.0.1.100-10.0.1.200' }, {});
    let error: unknown;
    try {
      dhcpPolicy(c, SERVER, MASK);
    } catch (e) {
      error = e;
    }
    expect(isNetrestoreError(error) && error.code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toMatch(/pool \(--pool\): 10\.0\.1\.100-10\.0\.1\.200 is not on this server's network 10\.0\.0\.1\/255\.255\.255\.0/);
    expect(dhcpPolicy({ ...c, subnetMask: '255.255.0.0' }, SERVER, MASK).mode).toBe('full');
    // A pool whose last address leaves the network is refused too.
    expect(() => dhcpPolicy(loadServeConfig({ dhcp: 'full', pool: '10.0.0.100-10.0.1.5' }, {}), SERVER, MASK)).toThrow(/is not on this server's network/);
  });
});
