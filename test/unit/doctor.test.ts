import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findingLine } from '../../src/doctor/finding.ts';
import { tlsCheck } from '../../src/doctor/local-checks.ts';
import { offerFindings, type OfferContext } from '../../src/doctor/offers.ts';
import { parseSs, portFindings } from '../../src/doctor/ports.ts';

const SS_UDP = [
  'UNCONN 0      0            0.0.0.0:69         0.0.0.0:*    users:(("in.tftpd",pid=812,fd=4))',
  'UNCONN 0      0      0.0.0.0%eth0:67         0.0.0.0:*    users:(("node",pid=900,fd=21))',
  'UNCONN 0      0               [::]:69            [::]:*    users:(("in.tftpd",pid=812,fd=5))',
  'UNCONN 0      0            0.0.0.0:4011       0.0.0.0:*',
].join('\n');

describe('doctor: ports', () => {
  it('parses ss lines, IPv6 and interface-bound ones included', () => {
    const l = parseSs(SS_UDP, 'udp');
    expect(l.map((x) => [x.address, x.port, x.processes.map((p) => `${p.name}/${p.pid}`).join()])).toEqual([
      ['0.0.0.0', 69, 'in.tftpd/812'],
      ['0.0.0.0', 67, 'node/900'],
      ['[::]', 69, 'in.tftpd/812'],
      ['0.0.0.0', 4011, ''],
    ]);
  });
  it('names another process once per port, skips netrestore itself, and says when it cannot see the holder', () => {
    const wanted = [
      { proto: 'udp' as const, port: 67, what: 'DHCP', flag: '--dhcp-port' },
      { proto: 'udp' as const, port: 69, what: 'TFTP', flag: '--tftp-port' },
      { proto: 'udp' as const, port: 4011, what: 'PXE boot server', flag: '--proxy-port' },
      { proto: 'tcp' as const, port: 8080, what: 'HTTP', flag: '--http-port' },
    ];
    const r = portFindings(parseSs(SS_UDP, 'udp'), wanted, (pid) => pid === 900);
    expect(r.findings.map(findingLine)).toEqual([
      expect.stringMatching(/^ports: UDP port 69 \(TFTP\) is taken by in\.tftpd \(pid 812\) → stop and disable it .*--tftp-port$/),
      expect.stringMatching(/^ports: UDP port 4011 \(PXE boot server\) is taken by a process this user cannot see → run doctor as root/),
    ]);
  });
});

describe('doctor: DHCP offers', () => {
  const proxy: OfferContext = { mode: 'proxy', local: ['10.0.0.5'], localDhcp: undefined, seconds: 6 };
  const site = { server: '10.0.0.1', yiaddr: '10.0.0.77', bootOptions: {} };
  it('a plain site DHCP server and netrestore itself are no finding', () => {
    expect(offerFindings([site, { server: '10.0.0.5', yiaddr: '0.0.0.0', bootOptions: { 'option 60': 'PXEClient' } }], proxy).findings).toEqual([]);
  });
  it('names a site server with boot options, another ProxyDHCP, and a local dnsmasq', () => {
    const r = offerFindings([{ ...site, bootOptions: { 'option 66': '10.0.0.9', 'option 67': 'pxelinux.0' } }, { server: '10.0.0.8', yiaddr: '0.0.0.0', bootOptions: { 'option 60': 'PXEClient' } }], proxy);
    expect(r.findings.map((f) => f.problem)).toEqual(['the DHCP server at 10.0.0.1 sets option 66 "10.0.0.9", option 67 "pxelinux.0" for PXE clients', 'another ProxyDHCP answers PXE clients: the DHCP server at 10.0.0.8 sets option 60 "PXEClient"']);
    const local = offerFindings([site, { server: '10.0.0.5', yiaddr: '0.0.0.0', bootOptions: {} }], { ...proxy, localDhcp: 'dnsmasq (pid 4)' });
    expect(local.findings.map((f) => f.problem)).toEqual(['another ProxyDHCP answers PXE clients: dnsmasq (pid 4) on this machine (10.0.0.5)']);
  });
  it('in full mode any other address server is a conflict; in proxy mode none at all is one', () => {
    expect(offerFindings([site], { ...proxy, mode: 'full' }).findings[0]!.problem).toMatch(/also hands out addresses \(offered 10\.0\.0\.77\) while netrestore runs full DHCP/);
    expect(offerFindings([], proxy).findings[0]!.problem).toBe('no DHCP server offered an address within 6 s');
    expect(offerFindings([], { ...proxy, mode: 'full' }).findings).toEqual([]);
  });
  it('the signed chain in proxy mode needs the site server to name this machine as GRUB\'s server: next-server when it sets one, else option 66', () => {
    const shim = { ...proxy, uefiBoot: 'shim' as const };
    const missing = offerFindings([site], shim).findings;
    expect(missing.map((f) => f.problem)).toEqual([expect.stringMatching(/^UEFI machines get the signed chain \(--uefi-boot shim\), but the DHCP server at 10\.0\.0\.1 names no TFTP server/)]);
    expect(missing[0]!.fix).toMatch(/set next-server \(siaddr\) to 10\.0\.0\.5 on the site DHCP server \(where it sets no next-server, option 66 does\), or serve with --uefi-boot ipxe/);
    // dnsmasq names itself as next-server: that wins over option 66 in GRUB.
    const itself = { ...site, siaddr: '10.0.0.1', bootOptions: { 'option 66': '10.0.0.5' } };
    expect(offerFindings([itself], shim).findings.map((f) => f.problem)).toEqual([expect.stringMatching(/names 10\.0\.0\.1 as TFTP server/)]);
    expect(offerFindings([{ ...site, siaddr: '10.0.0.5' }], shim).findings).toEqual([]);
    // No next-server: option 66 naming this machine is what GRUB takes, and alone it is no finding either way.
    const here = { ...site, siaddr: '0.0.0.0', bootOptions: { 'option 66': '10.0.0.5' } };
    expect(offerFindings([here], shim).findings).toEqual([]);
    expect(offerFindings([here], proxy).findings).toEqual([]);
    // Option 66 naming another machine still sends GRUB (and every PXE client) elsewhere.
    expect(offerFindings([{ ...site, bootOptions: { 'option 66': '10.0.0.9' } }], shim).findings.map((f) => f.problem)).toEqual([
      'the DHCP server at 10.0.0.1 sets option 66 "10.0.0.9" for PXE clients',
      expect.stringMatching(/names 10\.0\.0\.9 as TFTP server/),
    ]);
    // With iPXE for UEFI, the site server needs nothing.
    expect(offerFindings([site], { ...proxy, uefiBoot: 'ipxe' }).findings).toEqual([]);
  });
});

describe('doctor: TLS', () => {
  it('skips without a certificate and says when one cannot be read', () => {
    expect(tlsCheck(undefined, Date.now()).status).toBe('skipped');
    expect(tlsCheck('/nonexistent.pem', Date.now()).findings[0]!.problem).toMatch(/cannot read the certificate/);
  });
  it('reads the expiry of a real certificate', async () => {
    const { execa } = await import('execa');
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const d = mkdtempSync(join(tmpdir(), 'nr-watch-tls-'));
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-days', '10', '-subj', '/CN=netrestore']);
    const ends = Date.parse(new X509Certificate((await import('node:fs')).readFileSync(join(d, 'c.pem'))).validTo);
    expect(tlsCheck(join(d, 'c.pem'), Date.now()).findings[0]!.problem).toMatch(/expires in (9|10) days/);
    expect(tlsCheck(join(d, 'c.pem'), ends + 1000).findings[0]!.problem).toMatch(/expired on/);
    expect(tlsCheck(join(d, 'c.pem'), ends - 60 * 86_400_000).status).toBe('ok');
  });
});
