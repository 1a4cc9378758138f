/**
 * The DHCP policy for a configuration and the network this machine is on:
 * where clients are sent to boot, and in full mode the pool and options.
 * Pure; the pool comes parsed from the configuration schema.
 */
import type { ServeConfig } from '../config/schema.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { DEFAULT_BOOT_FILES, type UefiBoot } from './boot-target.ts';
import type { DhcpPolicy } from './decide.ts';
import { sameSubnet, type Pool } from './leases.ts';

type PolicyConfig = Pick<ServeConfig, 'uefiBoot' | 'dhcp' | 'httpPort' | 'tftpPort' | 'pool' | 'subnetMask' | 'router' | 'dns' | 'domain' | 'leaseTime'>;

/**
 * The chain UEFI x64 PXE clients get when the admin set none. Full mode: the
 * signed chain, which boots with Secure Boot on and off. Proxy mode: iPXE,
 * because Debian 12's signed GRUB takes its TFTP server from the site DHCP
 * server's answer (next-server, else option 66), never from our ProxyDHCP offer:
 * unless that server names netrestore, GRUB finds no configuration (README: Secure Boot).
 */
export function defaultUefiBoot(c: Pick<ServeConfig, 'uefiBoot' | 'dhcp'>): UefiBoot {
  return c.uefiBoot ?? (c.dhcp === 'full' ? 'shim' : 'ipxe');
}

export function dhcpPolicy(c: PolicyConfig, serverIp: string, netmask: string): DhcpPolicy {
  const boot = {
    serverIp,
    httpPort: c.httpPort === 'off' ? null : c.httpPort,
    tftpPort: c.tftpPort === 'off' ? null : c.tftpPort,
    files: DEFAULT_BOOT_FILES,
    uefiBoot: defaultUefiBoot(c),
  };
  if (c.dhcp !== 'full') return { mode: 'proxy', boot, full: undefined };
  // The schema refuses full mode without a pool; this guards callers that skip it.
  if (!c.pool) throw new NetrestoreError('CONFIG_INVALID', 'pool (--pool): full DHCP mode needs an address pool: --pool FIRST-LAST');
  const pool: Pool = {
    ...c.pool,
    subnetMask: c.subnetMask ?? netmask,
    reserved: [serverIp, ...(c.router ? [c.router] : []), ...c.dns],
  };
  for (const ip of [pool.first, pool.last]) {
    if (!sameSubnet(pool, ip) || !sameSubnet({ ...pool, first: serverIp }, ip)) {
      throw new NetrestoreError('CONFIG_INVALID', `pool (--pool): ${pool.first}-${pool.last} is not on this server's network ${serverIp}/${pool.subnetMask}; pick addresses of that network or set --subnet-mask`);
    }
  }
  return { mode: 'full', boot, full: { pool, router: c.router, dns: c.dns, domain: c.domain, leaseSeconds: c.leaseTime } };
}
