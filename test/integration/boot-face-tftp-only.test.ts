/**
 * The boot face with HTTP off and TFTP on, through the real CLI: DHCP sends
 * iPXE to tftp://…/boot.ipxe then, so that file must be a script (read here
 * with tftp-hpa and curl), and its menu offers what works without HTTP.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type Served } from '../../src/drill/service.ts';

const TFTP = 16931;
const T = `tftp://127.0.0.1:${TFTP}`;
const MAC = '52:54:00:93:00:01';
const dir = mkdtempSync(join(tmpdir(), 'nr-tftponly-'));
const boot = join(dir, 'boot');
const state = join(dir, 'state.db');
let served: Served;
const tftp = async (path: string) => (await execa('curl', ['-sS', `${T}/${path}`])).stdout;

beforeAll(async () => {
  mkdirSync(boot);
  writeFileSync(join(boot, 'vmlinuz'), 'kernel');
  writeFileSync(join(boot, 'initrd.img'), 'initrd');
  served = await startServe(['--dhcp', 'off', '--http-port', 'off', '--tftp-port', String(TFTP), '--listen', '127.0.0.1', '--boot-dir', boot, '--images', join(dir, 'store'), '--state', state, '--menu-password', 'letmein-please', '--log-level', 'debug']);
  await served.waitFor('tftp.listening');
}, 60_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('boot face over TFTP with HTTP off', () => {
  it('answers boot.ipxe with an iPXE script, to tftp-hpa and to curl', async () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    const r = await execa('tftp', ['127.0.0.1', String(TFTP), '-m', 'binary', '-c', 'get', 'boot.ipxe'], { cwd: out, all: true, reject: false });
    expect(r.all).toBe('');
    const script = readFileSync(join(out, 'boot.ipxe'), 'utf8');
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(script).toContain(`chain --autofree ${T}/hosts/\${net0/mac:hexhyp}.ipxe`);
    expect(await tftp('boot.ipxe')).toBe(script.trimEnd());
  });

  it('shows a menu of the local disk and the restore shell, saying restores need HTTP', async () => {
    const menu = await tftp(`hosts/${MAC.replaceAll(':', '-')}.ipxe`);
    expect(menu.startsWith('#!ipxe\n')).toBe(true);
    expect(menu).toContain('Restore and capture need HTTP on the server (--http-port), which is off');
    expect(menu).toContain('item local Boot from local disk');
    expect(menu).toContain('item shell Restore shell');
    expect(menu).not.toMatch(/^item (img\d|capture) /m);
    expect(menu).toContain('choose --default local');
  });

  it('refuses restore and capture logins with the reason, and boots the shell over TFTP', async () => {
    const m = MAC.replaceAll(':', '-');
    const restore = await tftp(`auth/${m}/restore/fs01/admin/letmein-please.ipxe`);
    expect(restore).toContain('restore needs HTTP on the server (--http-port), which is off');
    expect(restore).not.toContain('kernel');
    const shell = await tftp(`auth/${m}/shell/-/admin/letmein-please.ipxe`);
    expect(shell).toContain(`kernel ${T}/vmlinuz initrd=initrd.img netrestore.mode=shell quiet`);
    expect(shell).toContain(`initrd --name initrd.img ${T}/initrd.img`);
    expect(shell).not.toContain('netrestore.server');
    expect(await tftp(`auth/${m}/shell/-/admin/wrong.ipxe`)).toContain('Wrong user name or password');
  });

  it('leaves a pending task waiting, with a notice on the menu', async () => {
    const mac = '52:54:00:93:00:02';
    expect((await execa(BIN, ['hosts', 'task', mac, 'restore', 'fs01', '--state', state], { reject: false })).exitCode).toBe(0);
    const menu = await tftp(`hosts/${mac.replaceAll(':', '-')}.ipxe`);
    expect(menu).toMatch(/item --gap Task \d+ \(restore fs01\) waits for HTTP on the server \(--http-port\), which is off/);
    expect(menu).not.toContain('kernel');
    expect((await execa(BIN, ['hosts', 'list', '--state', state])).stdout).toMatch(/52:54:00:93:00:02 .*restore fs01 \(pending\)/);
  });

  it('touches no image store', () => {
    expect(existsSync(join(dir, 'store'))).toBe(false);
  });
});
