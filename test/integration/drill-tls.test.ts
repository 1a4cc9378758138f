/**
 * A drill with `serve --tls auto`: iPXE in qemu fetches its script, kernel and
 * initrd over plain HTTP, and the agent in the real restore environment can
 * reach the API only over HTTPS (the plain port refuses it), pinned to the
 * fingerprint its kernel command line carries. The restore passes, the
 * restored disk boots and matches the image.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillResult } from '../../src/drill/report.ts';
import { BIN } from '../../src/drill/service.ts';
import { TEST_MARKER } from '../../src/drill/test-image.ts';
import { qemuAvailable } from '../../src/drill/vm.ts';
import { netnsAvailable } from '../../src/drill/netns.ts';
import { ensureBootEnv, publishTestImage } from '../helpers/boot-env.ts';

const canDrill = netnsAvailable() && qemuAvailable() && existsSync('/bin/busybox') && existsSync('/usr/bin/syslinux') && existsSync('/lib/modules');

describe.runIf(canDrill)('a restore drill with the API over HTTPS only', () => {
  let dir: string;
  let store: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nr-drilltls-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'tmp'));
    store = await publishTestImage(dir, await ensureBootEnv());
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('BIOS, netrestore as the DHCP server: the agent restores over HTTPS with the fingerprint, the disk boots and matches', async () => {
    const r = await execa(BIN, ['drill', '--json', '--tls', '--image', 'drill-test', '--images', store, '--expect', TEST_MARKER], { reject: false, timeout: 900_000, env: { TMPDIR: join(dir, 'tmp') } });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    expect(line.startsWith('{'), `${r.stdout}\n${r.stderr}`).toBe(true);
    const result = JSON.parse(line) as DrillResult & { summary: string };
    expect(result.ok, `${result.summary}\n${r.stderr}`).toBe(true);
    expect(result.phases.map((p) => [p.name, p.ok])).toEqual([
      ['network', true],
      ['pxe-to-agent', true],
      ['restore', true],
      ['boot-restored-disk', true],
      ['checksum', true],
    ]);
  }, 900_000);
});
