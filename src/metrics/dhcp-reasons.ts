/**
 * The reason a DHCP request went unanswered, as one of a few labels: the
 * decision's own sentences carry addresses and message types, which would
 * make a metric label without bound.
 */

const CLASSES: [RegExp, string][] = [
  [/^not a BOOTREQUEST|hardware type|BOOTP without/, 'malformed'],
  [/marked ignore/, 'host-ignored'],
  [/not a PXE client/, 'not-pxe'],
  [/for the site's DHCP server|on port 4011/, 'not-for-us'],
  [/pool is exhausted/, 'pool-exhausted'],
  [/client chose server|for another server|not this client's|is not ours/, 'other-server'],
  [/outside the pool's subnet/, 'relay-outside-pool'],
  [/declined|released/, 'decline-release'],
  [/REQUEST names no address/, 'malformed'],
  [/is not a client message/, 'not-a-client-message'],
  [/undecodable|decode/i, 'undecodable'],
];

export function reasonClass(reason: string): string {
  for (const [re, label] of CLASSES) if (re.test(reason)) return label;
  // The boot target's own reasons (no boot file for this architecture, no HTTP for iPXE, …).
  return 'no-boot-target';
}
