import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, jsonDepth, limitsWith, serverOptions } from '../../src/http/limits.ts';

describe('HTTP limits', () => {
  it('measures JSON depth without recursion, stopping past the bound', () => {
    expect(jsonDepth(1, 32)).toBe(0);
    expect(jsonDepth({}, 32)).toBe(1);
    expect(jsonDepth({ a: [1, { b: null }] }, 32)).toBe(3);
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    expect(jsonDepth(deep, 32)).toBe(33);
  });
  it('gives Node its deadlines, checked often enough to matter', () => {
    const o = serverOptions(limitsWith({ headersTimeoutMs: 1000 }));
    expect(o).toMatchObject({ headersTimeout: 1000, requestTimeout: DEFAULT_LIMITS.requestTimeoutMs, maxHeaderSize: DEFAULT_LIMITS.maxHeaderBytes });
    expect(o.connectionsCheckingInterval).toBeLessThanOrEqual(250);
    expect(serverOptions(DEFAULT_LIMITS).connectionsCheckingInterval).toBe(1000);
  });
});
