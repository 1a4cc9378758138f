/**
 * What a drill tells: a JUnit XML report for CI dashboards and one line for
 * a person. Pure.
 */
import { formatBytes } from '../shared/progress.ts';

export interface Phase {
  /** network, pxe-to-agent, restore, boot-restored-disk, checksum …; a typed drill has one a typed step. */
  name: string;
  seconds: number;
  ok: boolean;
  error?: string;
  detail?: string;
}

export interface DrillResult {
  ok: boolean;
  /** restore: a task nobody watches; typed: a person's keys on the serial console; capture: the VM's disk captured twice; grow: a restore onto a larger disk. */
  kind: 'restore' | 'typed' | 'capture' | 'grow';
  image: string;
  firmware: 'bios' | 'uefi' | 'uefi-secureboot';
  mode: 'full' | 'proxy';
  phases: Phase[];
  bytes: number;
  /** Moments (seconds since the VM started) the service saw: first DHCP reply, iPXE script, agent started … */
  milestones: Record<string, number>;
  /** The tail of the VM's serial console, for the report. */
  console: string;
  /** A capture drill: what each capture added to the (empty at first) store, in bytes. */
  captures?: { image: string; seconds: number; stored: number }[];
}

const xml = (s: string) =>
  s
    .replace(/[^\x09\x0a\x0d\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

const secs = (n: number) => n.toFixed(3);

export function junitReport(r: DrillResult): string {
  const failures = r.phases.filter((p) => !p.ok).length;
  const total = r.phases.reduce((n, p) => n + p.seconds, 0);
  const suite = `netrestore drill ${r.image} (${r.firmware}, ${r.mode}${r.kind === 'restore' ? '' : `, ${r.kind}`})`;
  const cases = r.phases.map((p) => {
    const open = `    <testcase classname="netrestore.drill.${xml(r.image)}" name="${p.name}" time="${secs(p.seconds)}"`;
    if (p.ok) return `${open}>${p.detail ? `\n      <system-out>${xml(p.detail)}</system-out>\n    ` : ''}</testcase>`;
    return `${open}>\n      <failure message="${xml(p.error ?? 'failed')}">${xml(p.error ?? '')}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="netrestore drill" tests="${r.phases.length}" failures="${failures}" time="${secs(total)}">`,
    `  <testsuite name="${xml(suite)}" tests="${r.phases.length}" failures="${failures}" errors="0" skipped="0" time="${secs(total)}">`,
    ...cases,
    // Screens are drawn in place: lines of spaces say nothing in a report.
    `    <system-out>${xml(r.console.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').slice(-8000))}</system-out>`,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function summaryLine(r: DrillResult): string {
  const p = (n: Phase['name']) => r.phases.find((x) => x.name === n);
  const parts: string[] = [];
  const agent = p('pxe-to-agent');
  if (agent) parts.push(agent.ok ? `PXE to agent ${agent.seconds.toFixed(1)} s` : `PXE to agent FAILED`);
  if (r.kind === 'typed') {
    const typed = r.phases.filter((x) => !['network', 'boot-restored-disk', 'checksum'].includes(x.name));
    const bad = typed.find((x) => !x.ok);
    const restore = p('restore');
    if (bad) parts.push(`typed step ${bad.name} FAILED`);
    else if (typed.length) parts.push(`${typed.length} typed steps ${typed.reduce((n, x) => n + x.seconds, 0).toFixed(1)} s (restore ${restore ? `${restore.seconds.toFixed(1)} s` : '-'})`);
  }
  const restore = p('restore');
  if (restore && (r.kind === 'restore' || r.kind === 'grow')) parts.push(restore.ok ? `restore ${restore.seconds.toFixed(1)} s (${formatBytes(r.bytes)}, ${formatBytes(r.bytes / Math.max(restore.seconds, 0.001))}/s)` : 'restore FAILED');
  const [first, second] = r.captures ?? [];
  if (first) parts.push(`capture ${first.seconds.toFixed(1)} s (${formatBytes(r.bytes)}, ${formatBytes(first.stored)} stored)`);
  else if (p('capture')?.ok === false) parts.push('capture FAILED');
  const boot = p('boot-restored-disk');
  if (boot) parts.push(boot.ok ? `boot of the restored disk ${boot.seconds.toFixed(1)} s` : 'boot of the restored disk FAILED');
  const fills = p('root-fills-disk');
  if (fills) parts.push(fills.ok ? 'the root fills the larger disk' : 'the root did NOT fill the larger disk');
  const grew = p('fs-fills-disk');
  if (grew) parts.push(grew.ok ? 'the filesystem fills the larger disk' : 'the filesystem did NOT fill the larger disk');
  const fsck = p('fsck');
  if (fsck) parts.push(fsck.ok ? 'fsck clean' : 'fsck FAILED');
  const files = p('files');
  if (files) parts.push(files.ok ? 'files as made' : 'files DIFFER');
  const sum = p('checksum');
  if (sum) parts.push(sum.ok ? (r.kind === 'capture' ? 'image = disk' : 'checksum ok') : 'checksum MISMATCH');
  if (second) parts.push(`second capture ${formatBytes(second.stored)} stored (${((100 * second.stored) / Math.max(r.bytes, 1)).toFixed(3)} % of the disk)`);
  const failed = r.phases.find((x) => !x.ok);
  const kind = r.kind === 'restore' ? '' : ` ${r.kind}`;
  return `drill ${r.image} ${r.firmware}/${r.mode}${kind}: ${r.ok ? 'PASS' : 'FAIL'}: ${parts.join(', ')}${failed?.error ? `: ${failed.error.split('\n')[0]}` : ''}`;
}
