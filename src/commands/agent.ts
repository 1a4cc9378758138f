/**
 * `netrestore restore` and `netrestore capture`: the restore agent's
 * pipelines run from the command line against a file or a block device.
 * The boot environment runs the same code on the dead server.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import { ROLES, type Role } from '../images/format.ts';
import { openSource } from '../images/source.ts';
import { formatBytes, terminalProgress } from '../progress.ts';
import { capture } from '../restore-agent/capture.ts';
import { ImagesClient } from '../restore-agent/client.ts';
import { restore } from '../restore-agent/restore.ts';
import { describeContents, mountedFrom, openTarget } from '../restore-agent/target.ts';

interface Common {
  server: string;
  token?: string;
  task?: number;
  json?: boolean;
}

/** Ask for the word "yes" on a terminal; false anywhere else. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`${question}\nType yes to continue: `)).trim() === 'yes';
  } finally {
    rl.close();
  }
}

function clientFor(o: Common): ImagesClient {
  return new ImagesClient({
    server: o.server,
    token: o.token ?? process.env.NETRESTORE_TOKEN,
    onRetry: (what, attempt, reason) => process.stderr.write(`\nserver not answering ${what} (${reason}); retry ${attempt}…\n`),
  });
}

/** Print the summary (JSON or a sentence) and set the exit status from `ok`. */
function finish(o: Common, summary: Record<string, unknown> & { ok: boolean; error?: string }, sentence: string): void {
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (summary.ok) process.stdout.write(sentence + '\n');
  else process.stderr.write(`netrestore: ${summary.error}\n`);
  if (!summary.ok) process.exitCode = 1;
}

const serverOptions = (c: Command) =>
  c
    .requiredOption('--server <url>', 'the netrestore server, e.g. http://10.0.0.1:8080')
    .option('--token <token>', 'token for the server (default: $NETRESTORE_TOKEN)')
    .option('--task <id>', 'the one-shot task this runs for: reported started, then done or failed', (v) => Number(v))
    .option('--json', 'print one JSON summary at the end');

/**
 * Tell the server how task `id` (if any) goes. A report that cannot be made is
 * said on stderr but does not fail the work: the next boot then shows the task
 * as started, never runs it again by itself.
 */
async function reportTask(client: ImagesClient, id: number | undefined, state: 'started' | 'done' | 'failed', extra: { error?: string; bytes?: number } = {}): Promise<void> {
  if (id === undefined) return;
  try {
    await client.taskState(id, state, extra);
  } catch (err) {
    process.stderr.write(`warning: could not report task ${id} as ${state}: ${(err as Error).message}\n`);
  }
}

export function registerAgentCommands(cli: Command): void {
  registerRestore(cli);
  serverOptions(
    cli
      .command('capture')
      .description('capture a disk (file or block device) as a new image on the server, uploading only new chunks')
      .requiredOption('--source <path>', 'the disk to read')
      .requiredOption('--name <name>', 'name of the new image')
      .option('--description <text>', 'what this image is', '')
      .addOption(new Option('--role <role>', 'server role').choices([...ROLES]).default('generic'))
      .option('--chunk-size <MiB>', 'chunk size in MiB', (v) => Number(v), 4),
  ).action(async (o: Common & { source: string; name: string; description: string; role: Role; chunkSize: number }) => {
    const client = clientFor(o);
    const t0 = performance.now();
    const base = { image: o.name, source: o.source };
    let reader;
    try {
      await reportTask(client, o.task, 'started');
      reader = await openSource(o.source);
      const bar = terminalProgress();
      const { manifest, stats } = await capture(client, reader, {
        name: o.name,
        description: o.description,
        role: o.role,
        chunkSize: Math.round(o.chunkSize * 1024 * 1024),
        sourcePath: resolve(o.source),
        onProgress: (p) => bar.update(p),
      });
      bar.end();
      for (const w of manifest.warnings) process.stderr.write(`warning: ${w}\n`);
      const seconds = (performance.now() - t0) / 1000;
      await reportTask(client, o.task, 'done', { bytes: stats.bytesTotal });
      finish(o, { ok: true, ...base, ...stats, bytesFetched: 0, bytesWritten: 0, seconds: Number(seconds.toFixed(2)), verified: true }, `captured ${o.name}: ${formatBytes(stats.bytesTotal)} read, ${formatBytes(stats.bytesUploaded)} uploaded in ${seconds.toFixed(1)} s`);
    } catch (err) {
      await reportTask(client, o.task, 'failed', { error: (err as Error).message });
      finish(o, { ok: false, ...base, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)), error: (err as Error).message }, '');
    } finally {
      await reader?.close();
    }
  });
}

function registerRestore(cli: Command): void {
  serverOptions(
    cli
      .command('restore')
      .description('restore an image from the server to a disk (file or block device); identical chunks are neither fetched nor written')
      .requiredOption('--image <name>', 'the image to restore')
      .requiredOption('--target <path>', 'the disk to write (a missing file is created)')
      .option('--yes', 'do not ask before writing over a disk that holds data')
      .option('--no-verify', 'skip reading the disk back against the image checksum')
      .option('--parallel <n>', 'chunks in flight', (v) => Number(v), 4),
  ).action(async (o: Common & { image: string; target: string; yes?: boolean; verify: boolean; parallel: number }) => {
    const client = clientFor(o);
    const t0 = performance.now();
    const base = { image: o.image, target: o.target };
    let target;
    try {
      await reportTask(client, o.task, 'started');
      const m = await client.manifest(o.image);
      for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
      const mounted = await mountedFrom(o.target).catch(() => undefined);
      if (mounted) throw new Error(`${mounted}: unmount it first; netrestore never writes a disk in use`);
      target = await openTarget(o.target, m.source.size);
      const contents = await describeContents(target);
      const risky = m.role === 'domain-controller' || m.role === 'exchange';
      if ((contents !== 'empty' || risky) && !o.yes) {
        const what = contents === 'partition-table' ? 'holds a partition table' : contents === 'data' ? 'holds data' : 'is empty';
        const ok = await confirm(`${o.target} (${formatBytes(target.size)}) ${what}; restoring ${m.name} overwrites all of it.`);
        if (!ok) throw new Error(`${o.target} ${what}: not written; confirm with --yes (or type yes at the prompt)`);
      }
      const bar = terminalProgress();
      let lastReport = 0;
      const stats = await restore(client, m, target, {
        parallel: o.parallel,
        verify: o.verify,
        onProgress: (p) => {
          bar.update(p);
          const now = performance.now();
          if (now - lastReport > 2000) {
            lastReport = now;
            void client.progress({ mode: 'restore', image: m.name, phase: p.phase, done: p.done, total: p.total, rate: Math.round(p.done / ((now - t0) / 1000)) });
          }
        },
      });
      bar.end();
      const seconds = (performance.now() - t0) / 1000;
      void client.progress({ mode: 'restore', image: m.name, phase: 'done', done: m.source.size, total: m.source.size });
      await reportTask(client, o.task, 'done', { bytes: stats.bytesWritten });
      finish(o, { ok: true, ...base, ...stats, seconds: Number(seconds.toFixed(2)) }, `restored ${m.name} to ${o.target}: ${formatBytes(stats.bytesWritten)} written, ${stats.chunksSkipped} chunks already right, ${stats.verified ? 'verified' : 'not verified'}, ${seconds.toFixed(1)} s`);
    } catch (err) {
      await reportTask(client, o.task, 'failed', { error: (err as Error).message });
      finish(o, { ok: false, ...base, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)), verified: false, error: (err as Error).message }, '');
    } finally {
      await target?.fh.close();
    }
  });
}
