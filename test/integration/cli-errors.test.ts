/** What an admin sees when `serve` cannot start: one line that says what to do. */
import { execa } from 'execa';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-cli-'));
chmodSync(dir, 0o777);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const serve = (args: string[], pre: string[] = []) =>
  execa(pre[0] ?? BIN, [...pre.slice(1), ...(pre.length ? [BIN] : []), 'serve', '--dhcp', 'off', '--http-port', 'off', '--listen', '127.0.0.1', '--state', join(dir, 's.db'), ...args], { reject: false, timeout: 15_000 });

describe('serve start-up errors', () => {
  it('says which port is in use and how to fix it', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(16904, '127.0.0.1', r));
    const r = await serve(['--tftp-port', '16904']);
    sock.close();
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^netrestore: TFTP cannot listen on 127\.0\.0\.1:16904: the port is already in use .*pick another port with --tftp-port$/m);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('netrestore:'))).toHaveLength(1);
  });

  it.runIf(process.getuid?.() === 0)('says that a port below 1024 needs root or CAP_NET_BIND_SERVICE', async () => {
    const r = await serve(['--tftp-port', '69', '--state', join(dir, 'nobody.db')], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/permission denied; run as root, or grant the capability .*cap_net_bind_service.*or pick a port above 1023 with --tftp-port/);
  });

  it('names the bad key of a configuration file', async () => {
    const file = join(dir, 'bad.json');
    (await import('node:fs')).writeFileSync(file, JSON.stringify({ tftpPort: 'sixty-nine' }));
    const r = await execa(BIN, ['serve', '--config', file], { reject: false });
    expect(r.exitCode).toBe(2); // a value the user gave: a usage error
    expect(r.stderr).toMatch(/^netrestore: invalid configuration: tftpPort \(--tftp-port\): /);
  });

  it('has --help on serve', async () => {
    const r = await execa(BIN, ['serve', '--help']);
    for (const flag of ['--listen', '--interface', '--server-ip', '--dhcp <mode>', '--dhcp-port', '--proxy-port', '--pool', '--router', '--dns', '--tftp-port', '--http-port', '--boot-dir', '--images', '--state']) {
      expect(r.stdout).toContain(flag);
    }
  });
});
