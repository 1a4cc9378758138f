import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { milestones } from '../../src/drill/drill.ts';
import { junitReport, summaryLine, type DrillResult } from '../../src/drill/report.ts';

const passed: DrillResult = {
  ok: true,
  kind: 'restore',
  image: 'web-01',
  firmware: 'bios',
  mode: 'full',
  bytes: 40 * 1024 * 1024,
  milestones: {},
  console: 'SeaBIOS\x1b <stuff> & more',
  phases: [
    { name: 'network', seconds: 0.8, ok: true, detail: 'task 1' },
    { name: 'pxe-to-agent', seconds: 41.1, ok: true },
    { name: 'restore', seconds: 4, ok: true },
    { name: 'boot-restored-disk', seconds: 7, ok: true },
    { name: 'checksum', seconds: 0.1, ok: true },
  ],
};

const failed: DrillResult = {
  ...passed,
  ok: false,
  phases: [
    { name: 'network', seconds: 0.8, ok: true },
    { name: 'pxe-to-agent', seconds: 41.1, ok: true },
    { name: 'restore', seconds: 2, ok: false, error: 'the agent reported: image web-01: chunk 3 (ab12…) failed its check twice, "sha256 mismatch": the image on the server is damaged' },
  ],
};

describe('drill report', () => {
  it('sums up a passed drill in one line with the numbers a person asks for', () => {
    expect(summaryLine(passed)).toBe('drill web-01 bios/full: PASS: PXE to agent 41.1 s, restore 4.0 s (40.0 MiB, 10.0 MiB/s), boot of the restored disk 7.0 s, checksum ok');
  });

  it("names the failed phase and the agent's error", () => {
    expect(summaryLine(failed)).toMatch(/^drill web-01 bios\/full: FAIL: PXE to agent 41\.1 s, restore FAILED: the agent reported: image web-01: chunk 3/);
  });

  it('writes JUnit XML that a strict parser reads, one testcase a phase, the failure with its message', async () => {
    const xml = junitReport(failed);
    expect(xml).toContain('<testsuite name="netrestore drill web-01 (bios, full)" tests="3" failures="1"');
    expect(xml).toContain('<testcase classname="netrestore.drill.web-01" name="restore" time="2.000">');
    expect(xml).toContain('failed its check twice, &quot;sha256 mismatch&quot;');
    expect(xml).not.toContain('\x1b');
    const dir = mkdtempSync(join(tmpdir(), 'nr-junit-'));
    try {
      writeFileSync(join(dir, 'r.xml'), junitReport(passed));
      writeFileSync(join(dir, 'f.xml'), xml);
      // python3's expat: a real XML parser, not ours.
      const r = await execa('python3', ['-c', 'import sys, xml.dom.minidom as m\nfor f in sys.argv[1:]: d = m.parse(f); print(len(d.getElementsByTagName("testcase")), len(d.getElementsByTagName("failure")))', join(dir, 'r.xml'), join(dir, 'f.xml')]);
      expect(r.stdout.split('\n')).toEqual(['5 0', '3 1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('typed and capture drill reports', () => {
  const typed: DrillResult = {
    ...passed,
    kind: 'typed',
    phases: [
      { name: 'network', seconds: 1, ok: true },
      { name: 'menu-choose-image', seconds: 20, ok: true },
      { name: 'login-refused', seconds: 0.5, ok: true },
      { name: 'choose-disk', seconds: 60, ok: true },
      { name: 'restore', seconds: 21.5, ok: true },
      { name: 'boot-restored-disk', seconds: 7, ok: true },
      { name: 'checksum', seconds: 0.4, ok: true },
    ],
  };

  it('a typed drill: one testcase a typed step, the kind in the suite name, the typed steps summed in one line', () => {
    expect(summaryLine(typed)).toBe('drill web-01 bios/full typed: PASS: 4 typed steps 102.0 s (restore 21.5 s), boot of the restored disk 7.0 s, checksum ok');
    const xml = junitReport(typed);
    expect(xml).toContain('<testsuite name="netrestore drill web-01 (bios, full, typed)" tests="7" failures="0"');
    expect(xml).toContain('name="login-refused" time="0.500"');
  });

  it('a typed step that failed: its name first, then the screen it saw', () => {
    const failedTyped: DrillResult = { ...typed, ok: false, phases: [typed.phases[0]!, { name: 'login-refused', seconds: 90, ok: false, error: 'step login-refused (the service refuses the login): waited for /Wrong user name or password/, not in 90 s; the screen showed:\nLogin denied' }] };
    expect(summaryLine(failedTyped)).toBe('drill web-01 bios/full typed: FAIL: typed step login-refused FAILED: step login-refused (the service refuses the login): waited for /Wrong user name or password/, not in 90 s; the screen showed:');
    expect(junitReport(failedTyped)).toMatch(/name="login-refused" time="90.000">\s*<failure message="step login-refused [^"]*the screen showed:\nLogin denied"/);
  });

  it('a capture drill: what each capture stored, the second as a share of the disk', () => {
    const capture: DrillResult = {
      ...passed,
      kind: 'capture',
      captures: [
        { image: 'drill-capture-1', seconds: 11.4, stored: 9_527_431 },
        { image: 'drill-capture-2', seconds: 5.5, stored: 1020 },
      ],
      phases: ['network', 'pxe-to-agent', 'capture', 'reboot', 'checksum', 'second-capture', 'second-capture-sends-little'].map((name) => ({ name, seconds: name === 'pxe-to-agent' ? 49.1 : 1, ok: true })),
    };
    expect(summaryLine(capture)).toBe('drill web-01 bios/full capture: PASS: PXE to agent 49.1 s, capture 11.4 s (40.0 MiB, 9.1 MiB stored), image = disk, second capture 1020 B stored (0.002 % of the disk)');
  });
});

describe('drill milestones', () => {
  it('reads when firmware, iPXE script, environment and agent reached the service, from its log', () => {
    const t0 = Date.parse('2026-11-24T10:00:00.000Z');
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const m = milestones(
      [
        { time: at(-1), level: 'info', event: 'dhcp.listening' },
        { time: at(2.5), level: 'info', event: 'dhcp.reply', mac: '52:54:00:d1:11:01', type: 'OFFER' },
        { time: at(2.6), level: 'info', event: 'dhcp.reply', mac: '52:54:00:d1:11:01', type: 'ACK' },
        { time: at(3), level: 'info', event: 'dhcp.reply', mac: '52:54:00:00:00:99', type: 'OFFER' },
        { time: at(18.6), level: 'info', event: 'boot.decision', plan: 'task' },
        { time: at(36.2), level: 'info', event: 'dhcp.reply', mac: '52:54:00:d1:11:01', type: 'OFFER' },
        { time: at(41.1), level: 'info', event: 'task.state', state: 'started' },
        { time: at(44.5), level: 'info', event: 'task.state', state: 'done' },
      ],
      '52:54:00:d1:11:01',
      t0,
    );
    expect(m).toEqual({ 'firmware-dhcp': 2.5, 'boot-script': 18.6, 'environment-dhcp': 36.2, 'task-started': 41.1, 'task-done': 44.5 });
  });
});
