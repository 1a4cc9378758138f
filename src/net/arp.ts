/** The MAC the kernel's neighbour table holds for an IPv4 address (/proc/net/arp): which machine a TFTP client was. */
import { readFileSync } from 'node:fs';

/** Parse /proc/net/arp: IP address → MAC, complete entries only (flags 0x2). */
export function parseArp(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, mac] = line.trim().split(/\s+/);
    if (ip && mac && flags && (Number.parseInt(flags, 16) & 0x2) !== 0 && mac !== '00:00:00:00:00:00') out.set(ip, mac.toLowerCase());
  }
  return out;
}

export function macOfIp(ip: string, read: () => string = () => readFileSync('/proc/net/arp', 'utf8')): string | undefined {
  try {
    return parseArp(read()).get(ip);
  } catch {
    return undefined;
  }
}
