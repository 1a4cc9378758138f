import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { Arch } from '../../src/dhcp/client-info.ts';
import { decide, type Decision } from '../../src/dhcp/decide.ts';
import { Leases } from '../../src/dhcp/leases.ts';
import { Opt } from '../../src/dhcp/options.ts';
import { decode, describe, type DhcpPacket } from '../../src/dhcp/packet.ts';
import { fullPolicy, onDhcpPort, onPxePort, proxyPolicy, request, SERVER } from '../helpers/dhcp.ts';
import { readPcapUdp } from '../helpers/pcap.ts';
import { golden } from '../helpers/golden.ts';

const noHosts = () => undefined;
const NOW = 1_800_000_000_000;

function reply(d: Decision): DhcpPacket & { to: string; type: string } {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ignore: ${d.reason}`);
  return Object.assign(d.packet, { to: `${d.to.address}:${d.to.port}`, type: d.type });
}
const opt = (p: DhcpPacket, code: number) => p.options.get(code)?.toString('latin1');

suite('proxy mode (ProxyDHCP beside the site DHCP server)', () => {
  const policy = proxyPolicy();
  const ask = (p: DhcpPacket) => decide(onDhcpPort(p), policy, noHosts, new Leases(), NOW);

  it('offers a BIOS PXE client undionly.kpxe over TFTP and never an address', () => {
    const r = reply(ask(request({ type: 'DISCOVER', arch: Arch.BIOS })));
    expect(r.type).toBe('OFFER');
    expect(r.yiaddr).toBe('0.0.0.0');
    expect(r.siaddr).toBe(SERVER);
    expect(r.file).toBe('undionly.kpxe');
    expect(opt(r, Opt.BootfileName)).toBe('undionly.kpxe');
    expect(opt(r, Opt.TftpServerName)).toBe(SERVER);
    expect(opt(r, Opt.VendorClass)).toBe('PXEClient');
    expect(r.options.get(Opt.VendorSpecific)).toEqual(Buffer.from([6, 1, 8, 255]));
    expect(r.options.get(Opt.ClientUuid)?.subarray(1).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    expect(r.options.has(Opt.LeaseTime)).toBe(false);
    expect(r.to).toBe('255.255.255.255:68');
  });

  it.each([
    [Arch.EFI_X64, 'snponly.efi'],
    [Arch.EFI_BC, 'snponly.efi'],
    [Arch.EFI_ARM64, 'snponly-arm64.efi'],
  ])('gives architecture %i the file %s', (arch, file) => {
    expect(reply(ask(request({ type: 'DISCOVER', arch }))).file).toBe(file);
  });

  it('sends a UEFI HTTP-boot client an http:// URL to the iPXE EFI image with HTTPClient', () => {
    const r = reply(ask(request({ type: 'DISCOVER', arch: Arch.EFI_X64_HTTP, httpClient: true })));
    expect(r.file).toBe(`http://${SERVER}:8080/boot/ipxe.efi`);
    expect(opt(r, Opt.VendorClass)).toBe('HTTPClient');
    expect(r.options.has(Opt.VendorSpecific)).toBe(false);
  });

  it('sends iPXE to the boot script, not to iPXE again (no chain-load loop)', () => {
    const r = reply(ask(request({ type: 'DISCOVER', arch: Arch.BIOS, ipxe: true })));
    expect(r.file).toBe(`http://${SERVER}:8080/boot.ipxe`);
  });

  it('sends iPXE to boot.ipxe by a tftp:// URL when HTTP is off, port included', () => {
    const d = decide(onDhcpPort(request({ type: 'DISCOVER', arch: Arch.BIOS, ipxe: true })), proxyPolicy({ httpPort: null }), noHosts, new Leases(), NOW);
    expect(reply(d).file).toBe(`tftp://${SERVER}/boot.ipxe`);
    const other = decide(onDhcpPort(request({ type: 'DISCOVER', arch: Arch.BIOS, ipxe: true })), proxyPolicy({ httpPort: null, tftpPort: 1069 }), noHosts, new Leases(), NOW);
    expect(reply(other).file).toBe(`tftp://${SERVER}:1069/boot.ipxe`);
  });

  it('recognises iPXE by its option 175 alone', () => {
    const r = reply(ask(request({ type: 'DISCOVER', arch: Arch.EFI_X64, extra: [[Opt.Ipxe, Buffer.from([0xb1, 1, 1])]] })));
    expect(r.file).toContain('/boot.ipxe');
  });

  it('answers nothing to a client that is not PXE', () => {
    expect(ask(request({ type: 'DISCOVER' }))).toMatchObject({ kind: 'ignore', reason: expect.stringContaining('not a PXE client') });
  });

  it("leaves REQUESTs on port 67 to the site's DHCP server", () => {
    expect(ask(request({ type: 'REQUEST', arch: 0, serverId: '10.0.0.2', requested: '10.0.0.60' })).kind).toBe('ignore');
  });

  it('answers the PXE boot-server request on port 4011 directly to the client', () => {
    const r = reply(decide(onPxePort(request({ type: 'REQUEST', arch: Arch.EFI_X64, ciaddr: '10.0.0.50' })), policy, noHosts, new Leases(), NOW));
    expect(r.type).toBe('ACK');
    expect(r.to).toBe('10.0.0.50:4011');
    expect(r.yiaddr).toBe('0.0.0.0');
    expect(r.file).toBe('snponly.efi');
  });

  it('answers a relayed request to the relay agent', () => {
    const r = reply(ask(request({ type: 'DISCOVER', arch: Arch.BIOS, giaddr: '10.9.0.1' })));
    expect(r.to).toBe('10.9.0.1:67');
    expect(r.giaddr).toBe('10.9.0.1');
  });

  it('answers a client with an address by unicast, and keeps the broadcast flag it asked for', () => {
    expect(reply(ask(request({ type: 'DISCOVER', arch: 0, ciaddr: '10.0.0.77' }))).to).toBe('10.0.0.77:68');
    expect(reply(ask(request({ type: 'DISCOVER', arch: 0, broadcast: true }))).flags).toBe(0x8000);
  });

  it('gives no answer to a host marked ignore', () => {
    const hosts = (mac: string) => (mac === '52:54:00:00:00:09' ? { ignore: true } : undefined);
    const d = decide(onDhcpPort(request({ type: 'DISCOVER', arch: 0, mac: '52:54:00:00:00:09' })), policy, hosts, new Leases(), NOW);
    expect(d).toMatchObject({ kind: 'ignore', reason: 'host is marked ignore' });
  });

  it('gives no boot file for an architecture it has none for', () => {
    expect(ask(request({ type: 'DISCOVER', arch: Arch.EFI_IA32 })).kind).toBe('ignore');
  });

  it('ignores non-Ethernet hardware, replies and plain BOOTP', () => {
    const token = request({ type: 'DISCOVER', arch: 0 });
    expect(ask({ ...token, htype: 6 }).kind).toBe('ignore');
    expect(ask({ ...token, op: 2 }).kind).toBe('ignore');
    const bootp = request({ type: 'DISCOVER', arch: 0 });
    bootp.options.delete(Opt.MessageType);
    expect(ask(bootp).kind).toBe('ignore');
  });
});

suite('replies to requests captured from real firmware (golden)', () => {
  const FIXTURES = join(import.meta.dirname, '../fixtures/dhcp');
  it('proxy mode answers OVMF, iPXE and nobody else', () => {
    const lines: string[] = [];
    for (const file of ['ovmf.pcap', 'ipxe-bios.pcap', 'udhcpc.pcap', 'dhclient.pcap']) {
      for (const r of readPcapUdp(join(FIXTURES, file)).filter((r) => r.dport === 67)) {
        const d = decide(onDhcpPort(decode(r.payload)), proxyPolicy(), noHosts, new Leases(), NOW);
        lines.push(`== ${file} ${d.client?.messageType ?? '?'} arch=${d.client?.arch ?? '-'} ipxe=${d.client?.ipxe ?? '-'}`);
        lines.push(d.kind === 'reply' ? `reply to ${d.to.address}:${d.to.port}\n${describe(d.packet)}` : `ignore: ${d.reason}\n`);
      }
    }
    golden(join(FIXTURES, 'proxy-replies.txt'), lines.join('\n'));
  });

  it('a vendor BIOS PXE ROM (the iPXE capture without its iPXE options) gets undionly.kpxe', () => {
    const first = readPcapUdp(join(FIXTURES, 'ipxe-bios.pcap')).find((r) => r.dport === 67)!;
    const p = decode(first.payload);
    p.options.delete(Opt.UserClass);
    p.options.delete(Opt.Ipxe);
    expect(reply(decide(onDhcpPort(p), proxyPolicy(), noHosts, new Leases(), NOW)).file).toBe('undionly.kpxe');
  });
});

suite('full mode (DHCP server on an isolated network)', () => {
  const policy = fullPolicy('10.0.0.100', '10.0.0.102');
  class Table extends Leases {
    apply(d: Decision): Decision {
      if (d.lease) this.put(d.lease);
      return d;
    }
  }
  const run = (t: Table, p: DhcpPacket, now = NOW) => t.apply(decide(onDhcpPort(p), policy, noHosts, t, now));
  const lease = (t: Table, mac: string) => {
    const offer = reply(run(t, request({ type: 'DISCOVER', mac })));
    return reply(run(t, request({ type: 'REQUEST', mac, serverId: SERVER, requested: offer.yiaddr })));
  };

  it('walks DISCOVER → OFFER → REQUEST → ACK with the network options', () => {
    const t = new Table();
    const offer = reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01' })));
    expect(offer.type).toBe('OFFER');
    expect(offer.yiaddr).toBe('10.0.0.100');
    expect(offer.options.get(Opt.LeaseTime)?.readUInt32BE(0)).toBe(3600);
    const ack = reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:01', serverId: SERVER, requested: '10.0.0.100' })));
    expect(ack.type).toBe('ACK');
    expect(ack.yiaddr).toBe('10.0.0.100');
    expect(opt(ack, Opt.SubnetMask)).toBe(Buffer.from([255, 255, 255, 0]).toString('latin1'));
    expect(ack.options.get(Opt.Router)).toEqual(Buffer.from([10, 0, 0, 254]));
    expect(ack.options.get(Opt.DnsServers)).toEqual(Buffer.from([10, 0, 0, 53]));
    expect(opt(ack, Opt.DomainName)).toBe('lab.example');
    expect(ack.options.get(Opt.RenewalTime)?.readUInt32BE(0)).toBe(1800);
    expect(t.get('10.0.0.100')).toMatchObject({ state: 'bound', mac: '02:00:00:00:00:01', expires: NOW + 3600_000 });
    expect(offer.file).toBe(''); // not a PXE client: no boot file
  });

  it('never gives one address to two clients, skips reserved addresses and stops when the pool is exhausted', () => {
    const t = new Table();
    const ips = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'].map((m) => lease(t, m).yiaddr);
    expect(new Set(ips).size).toBe(3);
    expect(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:04' }))).toMatchObject({ kind: 'ignore', reason: 'the address pool is exhausted' });
    // An expired lease can go to someone else.
    expect(reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:04' }), NOW + 3601_000)).yiaddr).toBe('10.0.0.100');
  });

  it('keeps a client on its address and honours the address it asks for when free', () => {
    const t = new Table();
    expect(reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01', requested: '10.0.0.102' }))).yiaddr).toBe('10.0.0.102');
    lease(t, '02:00:00:00:00:01');
    expect(reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01' }))).yiaddr).toBe('10.0.0.102');
  });

  it('gives PXE clients their boot file with the address', () => {
    const t = new Table();
    const r = reply(run(t, request({ type: 'DISCOVER', arch: Arch.EFI_X64 })));
    expect(r.yiaddr).toBe('10.0.0.100');
    expect(r.file).toBe('snponly.efi');
    expect(r.siaddr).toBe(SERVER);
  });

  it('frees its offer when the client chose another server', () => {
    const t = new Table();
    run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01' }));
    const d = run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:01', serverId: '10.0.0.2', requested: '10.0.0.100' }));
    expect(d.kind).toBe('ignore');
    expect(t.get('10.0.0.100')?.state).toBe('released');
  });

  it('NAKs a request for an address it did not offer, one leased to another, or one off the network', () => {
    const t = new Table();
    lease(t, '02:00:00:00:00:01');
    run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:02' }));
    expect(reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:02', serverId: SERVER, requested: '10.0.0.102' }))).type).toBe('NAK');
    const stolen = reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:03', requested: '10.0.0.100' })));
    expect(stolen.type).toBe('NAK');
    expect(stolen.to).toBe('255.255.255.255:68');
    expect(reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:03', requested: '192.168.1.5' }))).type).toBe('NAK');
  });

  it('ACKs INIT-REBOOT and RENEWING for the client that holds the address', () => {
    const t = new Table();
    lease(t, '02:00:00:00:00:01');
    expect(reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:01', requested: '10.0.0.100' }))).type).toBe('ACK');
    const renew = reply(run(t, request({ type: 'REQUEST', mac: '02:00:00:00:00:01', ciaddr: '10.0.0.100' }), NOW + 1000_000));
    expect(renew.type).toBe('ACK');
    expect(renew.to).toBe('10.0.0.100:68');
    expect(t.get('10.0.0.100')?.expires).toBe(NOW + 1000_000 + 3600_000);
  });

  it('takes a DECLINEd address out of the pool and offers another', () => {
    const t = new Table();
    lease(t, '02:00:00:00:00:01');
    run(t, request({ type: 'DECLINE', mac: '02:00:00:00:00:01', serverId: SERVER, requested: '10.0.0.100' }));
    expect(t.get('10.0.0.100')?.state).toBe('declined');
    expect(reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01' }))).yiaddr).toBe('10.0.0.101');
  });

  it('RELEASE frees the address but remembers the client for next time', () => {
    const t = new Table();
    lease(t, '02:00:00:00:00:01');
    run(t, request({ type: 'RELEASE', mac: '02:00:00:00:00:01', serverId: SERVER, ciaddr: '10.0.0.100' }));
    expect(t.get('10.0.0.100')).toMatchObject({ state: 'released', mac: '02:00:00:00:00:01' });
    expect(reply(run(t, request({ type: 'DISCOVER', mac: '02:00:00:00:00:01' }))).yiaddr).toBe('10.0.0.100');
  });

  it('answers INFORM with configuration only, no address and no lease time', () => {
    const r = reply(run(new Table(), request({ type: 'INFORM', mac: '02:00:00:00:00:05', ciaddr: '10.0.0.7' })));
    expect(r.type).toBe('ACK');
    expect(r.yiaddr).toBe('0.0.0.0');
    expect(r.options.has(Opt.LeaseTime)).toBe(false);
    expect(r.options.has(Opt.Router)).toBe(true);
    expect(r.to).toBe('10.0.0.7:68');
  });

  it('answers relayed requests for its subnet to the relay, and not those of other subnets', () => {
    const t = new Table();
    expect(reply(run(t, request({ type: 'DISCOVER', giaddr: '10.0.0.250' }))).to).toBe('10.0.0.250:67');
    expect(run(t, request({ type: 'DISCOVER', giaddr: '10.7.0.1' })).kind).toBe('ignore');
  });
});

suite('which chain UEFI x64 PXE clients get (--uefi-boot, and per host)', () => {
  const shim = proxyPolicy({ uefiBoot: 'shim' });
  const host = (uefiBoot: 'shim' | 'ipxe' | null) => () => ({ ignore: false, uefiBoot });
  const ask = (policy = shim, hosts: Parameters<typeof decide>[2] = noHosts, p = request({ type: 'DISCOVER', arch: Arch.EFI_X64 })) => reply(decide(onDhcpPort(p), policy, hosts, new Leases(), NOW));

  it('shim: UEFI x64 PXE (arch 7 and 9) gets the signed shim over TFTP; BIOS and ARM64 keep iPXE', () => {
    expect(ask().file).toBe('shimx64.efi');
    expect(ask(shim, noHosts, request({ type: 'DISCOVER', arch: Arch.EFI_BC })).file).toBe('shimx64.efi');
    expect(ask(shim, noHosts, request({ type: 'DISCOVER', arch: Arch.BIOS })).file).toBe('undionly.kpxe');
    expect(ask(shim, noHosts, request({ type: 'DISCOVER', arch: Arch.EFI_ARM64 })).file).toBe('snponly-arm64.efi');
  });

  it('shim: UEFI HTTP boot still gets iPXE (the signed GRUB cannot fetch over HTTP), and iPXE itself its script', () => {
    expect(ask(shim, noHosts, request({ type: 'DISCOVER', arch: Arch.EFI_X64_HTTP, httpClient: true })).file).toBe(`http://${SERVER}:8080/boot/ipxe.efi`);
    expect(ask(shim, noHosts, request({ type: 'DISCOVER', arch: Arch.EFI_X64, ipxe: true })).file).toBe(`http://${SERVER}:8080/boot.ipxe`);
  });

  it("a host's own rule wins over the server's, both ways; null keeps the server's", () => {
    expect(ask(shim, host('ipxe')).file).toBe('snponly.efi');
    expect(ask(proxyPolicy(), host('shim')).file).toBe('shimx64.efi');
    expect(ask(shim, host(null)).file).toBe('shimx64.efi');
    expect(ask(proxyPolicy(), host(null)).file).toBe('snponly.efi');
  });

  it('the same in full mode, on the PXE port 4011 too', () => {
    const full = { ...fullPolicy(), boot: { ...fullPolicy().boot, uefiBoot: 'shim' as const } };
    expect(ask(full).file).toBe('shimx64.efi');
    expect(reply(decide(onPxePort(request({ type: 'REQUEST', arch: Arch.EFI_X64 })), full, host('ipxe'), new Leases(), NOW)).file).toBe('snponly.efi');
  });
});
