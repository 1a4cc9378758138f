/**
 * Drills started from the console. A drill needs root, network namespaces
 * and qemu, and runs for minutes: the server does not run it in its own
 * process but queues a job that runs the real `netrestore drill` (one at a
 * time, as the service's user: a service that is not root gets the drill's
 * own "run it as root" error on the page). Each run is kept in a folder
 * beside the state database: RUN.json (what and how it went) and RUN.xml
 * (the JUnit report, with the tail of the VM's serial console).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Phase } from '../drill/report.ts';

export const NETRESTORE_BIN = join(import.meta.dirname, '../../bin/netrestore');

export interface DrillRun {
  id: string;
  image: string;
  firmware: 'bios' | 'uefi';
  state: 'queued' | 'running' | 'passed' | 'failed' | 'error';
  queued: number;
  ended: number | null;
  /** The drill's one line (drill fs01 bios/full: PASS: …). */
  summary: string | null;
  phases: Phase[];
  /** Why the drill could not run, or its first failed phase's error. */
  error: string | null;
  /** Who asked for it. */
  by: string;
}

const RUN_ID = /^[0-9]{13}-[0-9a-f]{6}$/;

export class DrillRecords {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  list(): DrillRun[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
    return names
      .map((f) => this.get(f.slice(0, -5)))
      .filter((r): r is DrillRun => r !== undefined)
      .sort((a, b) => b.queued - a.queued);
  }

  get(id: string): DrillRun | undefined {
    if (!RUN_ID.test(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as DrillRun;
    } catch {
      return undefined;
    }
  }

  put(r: DrillRun): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = join(this.dir, `${r.id}.json.tmp`);
    writeFileSync(tmp, JSON.stringify(r, null, 1));
    renameSync(tmp, join(this.dir, `${r.id}.json`));
  }

  reportFile(id: string): string {
    return join(this.dir, `${id}.xml`);
  }

  /** The JUnit report of a run, if it wrote one. */
  report(id: string): string | undefined {
    if (!RUN_ID.test(id)) return undefined;
    try {
      return readFileSync(this.reportFile(id), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** The newest finished run of each image. */
  lastPerImage(): Map<string, DrillRun> {
    const out = new Map<string, DrillRun>();
    for (const r of this.list()) if (r.ended !== null && !out.has(r.image)) out.set(r.image, r);
    return out;
  }
}

/** The serial console's tail, as the JUnit report keeps it (the suite's last system-out). Pure. */
export function serialLog(junit: string): string {
  const all = [...junit.matchAll(/<system-out>([\s\S]*?)<\/system-out>/g)];
  const last = all.at(-1)?.[1] ?? '';
  return last.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

export interface DrillRunnerOptions {
  records: DrillRecords;
  images: string;
  bootDir: string;
  /** The command to run: `netrestore` (the real CLI). */
  bin?: string;
  onEnd?: (r: DrillRun) => void;
}

/** Runs queued drills one after the other, each the real `netrestore drill`. */
export class DrillRunner {
  readonly #o: DrillRunnerOptions;
  #chain: Promise<void> = Promise.resolve();

  constructor(o: DrillRunnerOptions) {
    this.#o = o;
    // Runs a restart interrupted never end by themselves.
    for (const r of o.records.list()) if (r.state === 'queued' || r.state === 'running') o.records.put({ ...r, state: 'error', ended: Date.now(), error: 'the service stopped before this drill ended' });
  }

  start(image: string, firmware: 'bios' | 'uefi', by: string): DrillRun {
    const now = Date.now();
    const run: DrillRun = { id: `${now}-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`, image, firmware, state: 'queued', queued: now, ended: null, summary: null, phases: [], error: null, by };
    this.#o.records.put(run);
    this.#chain = this.#chain.then(() => this.#run(run));
    return run;
  }

  /** Resolves when every queued drill has ended (tests, shutdown). */
  idle(): Promise<void> {
    return this.#chain;
  }

  async #run(run: DrillRun): Promise<void> {
    const { records } = this.#o;
    records.put({ ...run, state: 'running' });
    const args = ['drill', '--image', run.image, '--images', this.#o.images, '--boot-dir', this.#o.bootDir, '--firmware', run.firmware, '--report', records.reportFile(run.id), '--json'];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(this.#o.bin ?? NETRESTORE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
      p.on('error', (e) => resolve({ code: null, stdout: out, stderr: e.message }));
      p.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    const ended = { ...run, ended: Date.now() };
    let done: DrillRun;
    const result = parseResult(stdout);
    if (result) {
      const failed = result.phases.find((p) => !p.ok);
      done = { ...ended, state: result.ok ? 'passed' : 'failed', summary: result.summary, phases: result.phases, error: failed?.error ?? null };
    } else {
      // The drill could not start (not root, no restore environment, no such image): its own sentence.
      const lines = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('drill: '));
      done = { ...ended, state: 'error', error: lines.at(-1)?.replace(/^(netrestore|error): /, '') ?? `netrestore drill exited with ${String(code)}` };
    }
    records.put(done);
    this.#o.onEnd?.(done);
  }
}

function parseResult(stdout: string): { ok: boolean; summary: string; phases: Phase[] } | undefined {
  const line = stdout.trim().split('\n').at(-1);
  if (!line) return undefined;
  try {
    const r = JSON.parse(line) as { ok?: unknown; summary?: unknown; phases?: unknown };
    if (typeof r.ok !== 'boolean' || !Array.isArray(r.phases)) return undefined;
    return { ok: r.ok, summary: String(r.summary ?? ''), phases: r.phases as Phase[] };
  } catch {
    return undefined;
  }
}
