/**
 * `build-env --non-free-firmware`: the firmware of bnx2, bnx2x, tg3 and the
 * other drivers of the environment, from Debian's non-free-firmware packages
 * (downloaded from the mirror this machine's apt uses, into build/), placed
 * in the initrd; only files a driver names; the size reported against the
 * 50 MB goal. Needs the network to the Debian mirror the first time.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build-env/build.ts';
import { cpioList } from '../../src/build-env/cpio.ts';
import { SERVER_MODULES, resolveModules } from '../../src/build-env/modules.ts';
import { BIN } from '../../src/drill/service.ts';

const canBuild = existsSync('/bin/busybox') && existsSync('/usr/lib/ipxe/undionly.kpxe') && existsSync('/lib/modules') && existsSync('/usr/bin/apt-get');
const out = mkdtempSync(join(tmpdir(), 'nr-env-nonfree-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function initrdFiles(report: BuildReport): Map<string, Buffer> {
  const buf = readFileSync(join(out, 'initrd.img'));
  let at = 0;
  const files = new Map<string, Buffer>();
  for (const n of report.initrdParts) {
    for (const e of cpioList(zstdDecompressSync(buf.subarray(at, at + n)))) if ((e.mode & 0o170000) === 0o100000) files.set(e.path, e.data);
    at += n;
  }
  return files;
}

/** What the environment's modules name, asked of modinfo here (not of the code under test). */
async function namedFirmware(version: string): Promise<Map<string, string[]>> {
  const src = `/lib/modules/${version}`;
  const set = resolveModules(SERVER_MODULES, readFileSync(join(src, 'modules.dep'), 'utf8'), readFileSync(join(src, 'modules.builtin'), 'utf8'));
  const byModule = new Map<string, string[]>();
  for (const p of set.paths) {
    const { stdout } = await execa('modinfo', ['-F', 'firmware', join(src, p)]);
    byModule.set(p.slice(p.lastIndexOf('/') + 1).replace(/\.ko.*$/, ''), stdout.split('\n').filter(Boolean));
  }
  return byModule;
}

describe.runIf(canBuild)('build-env --non-free-firmware', () => {
  let report: BuildReport;
  let human: string;
  beforeAll(async () => {
    const r = await execa(BIN, ['build-env', '--non-free-firmware', '--out', out, '--json'], { all: true, reject: false });
    expect(r.exitCode, r.all).toBe(0);
    report = JSON.parse(r.stdout) as BuildReport;
    // Again, for the human report: everything is cached now.
    human = (await execa(BIN, ['build-env', '--non-free-firmware', '--out', out])).stdout;
  }, 1_800_000);

  it('places the firmware the network drivers name: bnx2, bnx2x, tg3, qed and the others', async () => {
    const files = initrdFiles(report);
    const named = await namedFirmware(report.kernelVersion);
    const placed = (module: string) => (named.get(module) ?? []).filter((f) => files.has(`lib/firmware/${f}`));
    for (const m of ['bnx2', 'bnx2x', 'tg3']) {
      expect(named.get(m)?.length, `${m} names firmware`).toBeGreaterThan(0);
      expect(placed(m), `${m}'s firmware in the initrd`).toEqual(named.get(m));
    }
    expect(placed('qed').length, 'qede/qed firmware').toBeGreaterThan(0);
    // Byte for byte the package's file (bnx2's from the unpacked firmware-bnx2).
    const name = named.get('bnx2')![0]!;
    expect(files.get(`lib/firmware/${name}`)!.equals(readFileSync(join(import.meta.dirname, '../../build/nonfree-firmware/root/firmware-bnx2/lib/firmware', name)))).toBe(true);
  });

  it('takes only files a driver names, and reports them with their size and packages', async () => {
    const files = initrdFiles(report);
    const named = new Set([...(await namedFirmware(report.kernelVersion)).values()].flat());
    const firmware = [...files.keys()].filter((p) => p.startsWith('lib/firmware/')).map((p) => p.slice('lib/firmware/'.length));
    expect(firmware.filter((f) => !named.has(f))).toEqual([]);
    expect(report.firmware).toBe(firmware.length);
    const nf = report.nonFreeFirmware!;
    expect(nf.files).toBeGreaterThan(10);
    expect(nf.packages.map((p) => p.split(' ')[0])).toEqual(expect.arrayContaining(['firmware-bnx2', 'firmware-bnx2x', 'firmware-misc-nonfree']));
    // Every named file is placed or reported missing; none is both.
    for (const f of report.missingFirmware) expect(files.has(`lib/firmware/${f}`), f).toBe(false);
    expect(firmware.length + report.missingFirmware.length).toBe(named.size);
  });

  it('says the total against the 50 MB goal, and by how much it misses it', () => {
    const mb = (report.kernelPlusInitrd / 1e6).toFixed(1);
    const verdict = report.kernelPlusInitrd <= 50e6 ? 'met' : `NOT met, ${((report.kernelPlusInitrd - 50e6) / 1e6).toFixed(1)} MB over`;
    expect(human).toContain(`(${mb} MB; goal ≤ 50 MB: ${verdict})`);
    expect(human).toMatch(new RegExp(`non-free firmware: ${report.nonFreeFirmware!.files} files, [\\d.]+ MB before compression, from firmware-`));
  });
});
