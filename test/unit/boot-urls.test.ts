import { describe, expect, it } from 'vitest';
import { bootUrls } from '../../src/dhcp/boot-urls.ts';
import { bootTarget, DEFAULT_BOOT_FILES } from '../../src/dhcp/boot-target.ts';
import type { ClientInfo } from '../../src/dhcp/client-info.ts';

const IP = '10.0.0.1';

describe('boot URLs: one spelling for DHCP and the boot scripts', () => {
  it('leaves out the default ports, 80 for HTTP and 69 for TFTP', () => {
    expect(bootUrls({ serverIp: IP, httpPort: 80, tftpPort: 69 })).toEqual({ http: 'http://10.0.0.1', tftp: 'tftp://10.0.0.1', https: null });
  });
  it('names any other port', () => {
    expect(bootUrls({ serverIp: IP, httpPort: 8080, tftpPort: 1069 })).toEqual({ http: 'http://10.0.0.1:8080', tftp: 'tftp://10.0.0.1:1069', https: null });
    // The default of one scheme is no default for the other.
    expect(bootUrls({ serverIp: IP, httpPort: 69, tftpPort: 80 })).toEqual({ http: 'http://10.0.0.1:69', tftp: 'tftp://10.0.0.1:80', https: null });
  });
  it('has no URL for a face that is off', () => {
    expect(bootUrls({ serverIp: IP, httpPort: null, tftpPort: 69 })).toEqual({ http: null, tftp: 'tftp://10.0.0.1', https: null });
    expect(bootUrls({ serverIp: IP, httpPort: 80, tftpPort: null })).toEqual({ http: 'http://10.0.0.1', tftp: null, https: null });
    expect(bootUrls({ serverIp: IP, httpPort: 80, tftpPort: 69, httpsPort: 443 }).https).toBe('https://10.0.0.1');
    expect(bootUrls({ serverIp: IP, httpPort: 8080, tftpPort: 69, httpsPort: 8443 }).https).toBe('https://10.0.0.1:8443');
    expect(bootUrls({ serverIp: IP, httpPort: null, tftpPort: null })).toEqual({ http: null, tftp: null, https: null });
  });
  it('is what DHCP sends iPXE and UEFI HTTP boot to', () => {
    const client = (c: Pick<ClientInfo, 'ipxe' | 'httpBoot' | 'firmware' | 'arch'>): ClientInfo => ({ mac: '52:54:00:00:00:01', messageType: 'DISCOVER', pxe: !c.httpBoot, uuid: undefined, undi: undefined, vendorClass: undefined, hostname: undefined, ...c });
    const ipxe = client({ ipxe: true, httpBoot: false, firmware: 'bios', arch: 0 });
    const httpBoot = client({ ipxe: false, httpBoot: true, firmware: 'uefi-x64-http', arch: 16 });
    const server = (httpPort: number | null, tftpPort: number | null) => ({ serverIp: IP, httpPort, tftpPort, files: DEFAULT_BOOT_FILES, uefiBoot: 'shim' as const });
    expect(bootTarget(ipxe, server(80, 69))).toMatchObject({ file: 'http://10.0.0.1/boot.ipxe', via: 'http' });
    expect(bootTarget(ipxe, server(8080, 69))).toMatchObject({ file: 'http://10.0.0.1:8080/boot.ipxe', via: 'http' });
    expect(bootTarget(ipxe, server(null, 69))).toMatchObject({ file: 'tftp://10.0.0.1/boot.ipxe', via: 'tftp' });
    expect(bootTarget(ipxe, server(null, 1069))).toMatchObject({ file: 'tftp://10.0.0.1:1069/boot.ipxe', via: 'tftp' });
    expect(bootTarget(ipxe, server(null, null))).toEqual({ none: 'iPXE client, but both HTTP and TFTP are off' });
    expect(bootTarget(httpBoot, server(80, null))).toMatchObject({ file: 'http://10.0.0.1/boot/ipxe.efi', via: 'http' });
    expect(bootTarget(httpBoot, server(null, 69))).toEqual({ none: 'UEFI HTTP boot client, but HTTP is off' });
  });
});
