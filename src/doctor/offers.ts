/**
 * What the DHCP offers heard after our probe DISCOVER mean. A site DHCP
 * server that sets options 66/67/60 for PXE clients, or another ProxyDHCP,
 * competes with netrestore: firmware takes the first or the "best" offer and
 * F12 lands somewhere else. In full mode any other server handing out
 * addresses is a conflict; in proxy mode none at all is one.
 */
import { found, type CheckResult, type Finding } from './finding.ts';

export interface HeardOffer {
  /** Option 54, or the sender's address. */
  server: string;
  /** The address offered; 0.0.0.0 from a ProxyDHCP. */
  yiaddr: string;
  /** Options that point PXE clients somewhere: 60, 66, 67, and the BOOTP file/sname fields. */
  bootOptions: Record<string, string>;
  /** The BOOTP next-server field; 0.0.0.0 (or absent): none. */
  siaddr?: string;
}

export interface OfferContext {
  mode: 'proxy' | 'full' | 'off';
  /** This machine's addresses: an offer from one of them is netrestore itself when it holds port 67. */
  local: string[];
  /** The process on this machine that holds UDP 67, if not netrestore. */
  localDhcp: string | undefined;
  seconds: number;
  /** The chain UEFI x64 PXE clients get by the server's rule: shim needs option 66 to point here in proxy mode. */
  uefiBoot?: 'shim' | 'ipxe';
}

const describe = (o: HeardOffer) =>
  Object.entries(o.bootOptions)
    .map(([k, v]) => `${k} "${v}"`)
    .join(', ');

export function offerFindings(offers: HeardOffer[], c: OfferContext): CheckResult {
  const findings: Finding[] = [];
  const byServer = new Map<string, HeardOffer>();
  for (const o of offers) if (!byServer.has(o.server)) byServer.set(o.server, o);
  const others = [...byServer.values()].filter((o) => !c.local.includes(o.server) || c.localDhcp !== undefined);
  for (const o of others) {
    const who = c.local.includes(o.server) ? `${c.localDhcp} on this machine (${o.server})` : `the DHCP server at ${o.server}`;
    const boot = Object.keys(o.bootOptions).length > 0;
    if (o.yiaddr === '0.0.0.0') {
      findings.push({ check: 'dhcp', problem: `another ProxyDHCP answers PXE clients: ${who}${boot ? ` sets ${describe(o)}` : ''}`, fix: 'stop it (or its pxe-service/dhcp-boot lines) on this network: two boot servers make F12 land on either' });
    } else if (c.mode === 'full') {
      findings.push({ check: 'dhcp', problem: `${who} also hands out addresses (offered ${o.yiaddr}) while netrestore runs full DHCP`, fix: 'use --dhcp proxy beside it, or keep netrestore on an isolated network' });
    } else if (c.mode === 'proxy' && pointsHere(o, c.local)) {
      // Option 66 naming this machine and nothing else: what Debian's signed GRUB needs to find us in proxy mode.
    } else if (boot) {
      findings.push({ check: 'dhcp', problem: `${who} sets ${describe(o)} for PXE clients`, fix: 'remove options 66/67 (and 60 "PXEClient") for this network on that server: netrestore answers PXE clients itself (ProxyDHCP)' });
    }
  }
  if (c.mode === 'proxy' && ![...byServer.values()].some((o) => o.yiaddr !== '0.0.0.0')) {
    findings.push({ check: 'dhcp', problem: `no DHCP server offered an address within ${c.seconds} s`, fix: 'ProxyDHCP needs the site DHCP server on this network: check the VLAN and the interface, or use --dhcp full with --pool on an isolated network' });
  }
  const sites = [...byServer.values()].filter((o) => o.yiaddr !== '0.0.0.0');
  if (c.mode === 'proxy' && c.uefiBoot === 'shim' && sites.length > 0 && !sites.some((o) => c.local.includes(grubServer(o) ?? ''))) {
    const o = sites[0]!;
    findings.push({
      check: 'dhcp',
      problem: `UEFI machines get the signed chain (--uefi-boot shim), but the DHCP server at ${o.server} names ${grubServer(o) ? `${grubServer(o)} as` : 'no'} TFTP server: Debian's signed GRUB asks that one, not netrestore's ProxyDHCP, and would find no configuration`,
      fix: `set next-server (siaddr) to ${c.local.find((a) => a !== '127.0.0.1') ?? "this server's address"} on the site DHCP server (where it sets no next-server, option 66 does), or serve with --uefi-boot ipxe (Secure Boot off only)`,
    });
  }
  return found('dhcp', findings, `${byServer.size} server(s) answered: ${[...byServer.keys()].join(', ') || 'none'}`);
}

/** The TFTP server Debian's signed GRUB 2.06 takes from a DHCP answer (bootp.c): next-server when set, else option 66. */
export function grubServer(o: HeardOffer): string | undefined {
  if (o.siaddr && o.siaddr !== '0.0.0.0') return o.siaddr;
  return o.bootOptions['option 66']?.trim() || undefined;
}

/** Option 66 naming this machine and nothing else: no other boot server, and what GRUB may need. */
function pointsHere(o: HeardOffer, local: string[]): boolean {
  const keys = Object.keys(o.bootOptions);
  return keys.length === 1 && keys[0] === 'option 66' && local.includes(o.bootOptions['option 66']!.trim());
}
