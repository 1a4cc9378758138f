/**
 * `netrestore install --root DIR`: the layout it writes, the unit checked by
 * systemd-analyze, and the installed copy started after `npm ci --omit=dev`
 * the way the unit starts it: an unprivileged user holding only the unit's
 * ambient capabilities, on the privileged ports 69 and 80.
 */
import { execa } from 'execa';
import { chmodSync, cpSync, existsSync, mkdirSync, symlinkSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServeConfig, readConfigFile } from '../../src/config/load.ts';
import { BIN } from '../../src/drill/service.ts';
import { INSTALLED } from '../../src/service/paths.ts';

const ROOT = join(import.meta.dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'nr-svc-install-'));
const at = (p: string) => join(root, p);
const NS = `svcinst${process.pid}`;

/** The unit's capabilities, from the unit itself. */
function unitCapabilities(): string[] {
  const unit = readFileSync(join(ROOT, 'packaging/netrestore.service'), 'utf8');
  return unit.match(/^AmbientCapabilities=(.*)$/m)![1]!.split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

beforeAll(async () => {
  chmodSync(root, 0o755); // the unprivileged user below walks through it
  await execa(BIN, ['install', '--root', root]);
}, 120_000);
afterAll(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
  rmSync(root, { recursive: true, force: true });
});

describe('netrestore install --root', () => {
  it('lays out the code, the command, the unit, the user entry, the configuration and the state directories', () => {
    for (const f of ['bin/netrestore', 'src/cli.ts', 'package.json', 'package-lock.json', 'native/bind_to_device.c', 'boot-assets/init']) expect(existsSync(at(join(INSTALLED.prefix, f))), f).toBe(true);
    expect(existsSync(at(join(INSTALLED.prefix, 'boot-assets/dist'))), 'built boot files stay in the checkout').toBe(false);
    expect(readFileSync(at(INSTALLED.unit), 'utf8')).toBe(readFileSync(join(ROOT, 'packaging/netrestore.service'), 'utf8'));
    expect(readFileSync(at(INSTALLED.sysusers), 'utf8')).toMatch(/^u netrestore - .* \/var\/lib\/netrestore/m);
    const wrapper = readFileSync(at(INSTALLED.command), 'utf8');
    expect(wrapper).toContain(`NETRESTORE_CONFIG:-${INSTALLED.config}`);
    expect(statSync(at(INSTALLED.command)).mode & 0o111).toBeTruthy();
    for (const d of [INSTALLED.stateDir, INSTALLED.images, INSTALLED.bootDir]) expect(statSync(at(d)).isDirectory(), d).toBe(true);
    // The default configuration validates against the one schema and uses the standard paths.
    const c = loadServeConfig(readConfigFile(at(INSTALLED.config)), {});
    expect([c.state, c.images, c.bootDir, c.dhcp]).toEqual(['/var/lib/netrestore/netrestore.db', '/var/lib/netrestore/images', '/var/lib/netrestore/boot', 'proxy']);
    expect(statSync(at(INSTALLED.config)).mode & 0o777).toBe(0o640);
  });

  it('never overwrites an existing configuration', async () => {
    const mine = JSON.stringify({ menuTitle: 'Room 4', state: '/var/lib/netrestore/netrestore.db' });
    writeFileSync(at(INSTALLED.config), mine);
    const r = await execa(BIN, ['install', '--root', root, '--json']);
    const report = JSON.parse(r.stdout) as { kept: string[]; written: string[]; user: string };
    expect(report.kept).toEqual([INSTALLED.config]);
    expect(report.written).not.toContain(INSTALLED.config);
    expect(report.user).toBe('skipped');
    expect(readFileSync(at(INSTALLED.config), 'utf8')).toBe(mine);
    await execa(BIN, ['install', '--root', root]); // the tests below use the default one
    rmSync(at(INSTALLED.config));
    await execa(BIN, ['install', '--root', root]);
  }, 120_000);

  it('the unit passes systemd-analyze verify in that root; a unit whose command is missing does not', async () => {
    // The system's own units (targets the unit names) beside it, as on the installed system.
    cpSync('/usr/lib/systemd/system', at('usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    // ExecReload's /bin/kill, on a merged /usr as Debian 12 has it.
    mkdirSync(at('usr/bin'), { recursive: true });
    cpSync('/usr/bin/kill', at('usr/bin/kill'));
    if (!existsSync(at('bin'))) symlinkSync('usr/bin', at('bin'));
    const ok = await execa('systemd-analyze', ['verify', `--root=${root}`, at(INSTALLED.unit)], { reject: false, all: true });
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.all.split('\n').filter((l) => l.includes('netrestore')), 'no warning about the unit').toEqual([]);
    const broken = at('etc/systemd/system/netrestore-broken.service');
    writeFileSync(broken, readFileSync(at(INSTALLED.unit), 'utf8').replace('/opt/netrestore/bin/netrestore serve', '/opt/netrestore/bin/missing serve'));
    const bad = await execa('systemd-analyze', ['verify', `--root=${root}`, broken], { reject: false, all: true });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.all).toMatch(/missing is not executable/);
    rmSync(broken);
  }, 60_000);

  it('after npm ci --omit=dev the installed copy starts as an unprivileged user with only the unit\'s capabilities, on ports 69 and 80', async () => {
    await execa('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: at(INSTALLED.prefix) });
    expect(existsSync(at(join(INSTALLED.prefix, 'node_modules/vitest'))), 'no dev dependencies').toBe(false);
    // What StateDirectory= and the install's group do for the user netrestore, for nobody here.
    await execa('chown', ['-R', 'nobody:nogroup', at(INSTALLED.stateDir)]);
    await execa('chgrp', ['nogroup', at(INSTALLED.configDir), at(INSTALLED.config)]);
    writeFileSync(at(join(INSTALLED.bootDir, 'hello.txt')), 'from the installed boot directory\n');
    await execa('ip', ['netns', 'add', NS]);
    await execa('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    const caps = unitCapabilities();
    expect(caps).toEqual(['net_bind_service', 'net_raw']);
    const capList = caps.map((c) => `+${c}`).join(',');
    // The paths of the installed configuration, moved under the test's root; everything else as installed.
    const serve = execa('ip', ['netns', 'exec', NS, 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', `--inh-caps=${capList}`, `--ambient-caps=${capList}`, `--bounding-set=-all,${capList}`, '--no-new-privs',
      at(join(INSTALLED.prefix, 'bin/netrestore')), 'serve', '--config', at(INSTALLED.config), '--state', at(INSTALLED.state), '--images', at(INSTALLED.images), '--boot-dir', at(INSTALLED.bootDir),
      '--listen', '127.0.0.1', '--dhcp', 'off', '--http-port', '80'], { reject: false, all: true, buffer: true });
    let exited = false;
    void serve.then(() => (exited = true));
    try {
      let got = '';
      for (let i = 0; i < 120 && !exited && !got.includes('from the installed'); i++) {
        await new Promise((r) => setTimeout(r, 500));
        got = (await execa('ip', ['netns', 'exec', NS, 'curl', '-s', 'http://127.0.0.1/boot/hello.txt'], { reject: false })).stdout;
      }
      expect(exited ? `exited: ${(await serve).all}` : got).toBe('from the installed boot directory');
      const tftp = await execa('ip', ['netns', 'exec', NS, 'curl', '-s', 'tftp://127.0.0.1/hello.txt'], { reject: false });
      expect(tftp.stdout).toBe('from the installed boot directory');
      // The state database is the installed path's, written by the unprivileged user.
      expect(statSync(at(INSTALLED.state)).uid).not.toBe(0);
    } finally {
      if (!exited) process.kill(serve.pid!, 'SIGTERM');
    }
    const r = await serve;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/"event":"serve.stopped"/);
  }, 600_000);
});
