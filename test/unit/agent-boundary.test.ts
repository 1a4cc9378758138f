/**
 * The agent runs in a 50 MB initramfs: it may import only its own folder and
 * the code it shares with the server. esbuild's metafile of the real bundle
 * says what went in.
 */
import { describe, expect, it } from 'vitest';
import { bundleAgent } from '../../src/build-env/build.ts';

describe('agent bundle boundary', () => {
  it('holds only src/restore-agent/ and src/shared/', async () => {
    const inputs = await bundleAgent('/tmp/netrestore-agent-boundary.mjs', false);
    expect(inputs.length).toBeGreaterThan(10);
    expect(inputs.some((f) => f.startsWith('src/restore-agent/'))).toBe(true);
    const outside = inputs.filter((f) => !f.startsWith('src/restore-agent/') && !f.startsWith('src/shared/'));
    expect(outside).toEqual([]);
  });
});
