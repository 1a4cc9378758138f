import { describe, expect, it } from 'vitest';
import { linkState, nextStep, type LinkSnapshot } from '../../src/net/link.ts';

const up = (address: string, ifindex = 3, netmask = '255.255.255.0'): LinkSnapshot => ({ name: 'eth0', exists: true, ifindex, adminUp: true, carrier: true, ipv4: { address, netmask } });
const noCarrier: LinkSnapshot = { name: 'eth0', exists: true, ifindex: 3, adminUp: true, carrier: false };
const serving = { ifindex: 3, address: '10.0.0.1', netmask: '255.255.255.0' };

describe('link decisions', () => {
  it('waits without carrier, for an admin-down link, without an address, and says which', () => {
    expect(nextStep(undefined, noCarrier, undefined)).toEqual({ step: 'wait', reason: expect.stringMatching(/no carrier/) });
    expect(nextStep(undefined, { ...noCarrier, adminUp: false }, undefined)).toEqual({ step: 'wait', reason: expect.stringMatching(/is down \(ip link set eth0 up\)/) });
    expect(nextStep(undefined, { ...up('x'), ipv4: undefined }, undefined)).toEqual({ step: 'wait', reason: expect.stringMatching(/no IPv4 address/) });
  });
  it('starts with the address, or with --server-ip when the interface has none', () => {
    expect(nextStep(undefined, up('10.0.0.1'), undefined)).toEqual({ step: 'start', net: serving });
    expect(nextStep(undefined, { ...up('x'), ipv4: undefined }, '10.9.9.9')).toEqual({ step: 'start', net: { ifindex: 3, address: '10.9.9.9', netmask: '255.255.255.0' } });
  });
  it('keeps serving through a flap and a vanished interface', () => {
    expect(nextStep(serving, noCarrier, undefined)).toEqual({ step: 'keep' });
    expect(nextStep(serving, { name: 'eth0', exists: false, carrier: false }, undefined)).toEqual({ step: 'keep' });
    expect(nextStep(serving, up('10.0.0.1'), undefined)).toEqual({ step: 'keep' });
  });
  it('restarts on a new address, a new interface index or a new netmask', () => {
    expect(nextStep(serving, up('10.0.0.2'), undefined)).toMatchObject({ step: 'restart', reason: 'address changed from 10.0.0.1 to 10.0.0.2' });
    expect(nextStep(serving, up('10.0.0.1', 7), undefined)).toMatchObject({ step: 'restart', reason: expect.stringMatching(/made anew \(index 3 → 7\)/) });
    expect(nextStep(serving, up('10.0.0.1', 3, '255.255.0.0'), undefined)).toMatchObject({ step: 'restart' });
    // With --server-ip the interface's own address does not matter.
    expect(nextStep({ ...serving, address: '10.9.9.9' }, up('10.0.0.2'), '10.9.9.9')).toEqual({ step: 'keep' });
  });
  it('names the state in one word', () => {
    expect([up('1.2.3.4'), noCarrier, { ...noCarrier, adminUp: false }, { ...up('x'), ipv4: undefined }, { name: 'e', exists: false, carrier: false }].map(linkState)).toEqual(['up', 'no-carrier', 'down', 'up-no-address', 'gone']);
  });
});
