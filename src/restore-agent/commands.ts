/**
 * `netrestore restore` and `netrestore capture`: the restore agent's
 * pipelines run from the command line against a file or a block device.
 * The boot environment runs the same code on the dead server.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import { ROLES, type Role } from '../shared/format.ts';
import { formatBytes, terminalProgress } from '../shared/progress.ts';
import { ImagesClient } from './client.ts';
import { captureJob, describeWhat, restoreJob } from './jobs.ts';
import { DEFAULT_PARALLEL } from './restore.ts';
import type { DiskReader } from '../shared/disk-reader.ts';
import { positiveInt, positiveNumber } from '../shared/cli-args.ts';
import { reportFailure } from '../shared/cli-report.ts';

interface Common {
  server: string;
  token?: string;
  fingerprint?: string;
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

const warn = (s: string) => process.stderr.write(`warning: ${s}\n`);

function clientFor(o: Common): ImagesClient {
  return new ImagesClient({
    server: o.server,
    token: o.token ?? process.env.NETRESTORE_TOKEN,
    fingerprint: o.fingerprint,
    onRetry: (what, attempt, reason) => process.stderr.write(`\nserver not answering ${what} (${reason}); retry ${attempt}…\n`),
  });
}

/** Print the summary of a run that worked: JSON or a sentence. */
function finish(o: Common, summary: Record<string, unknown> & { ok: true }, sentence: string): void {
  process.stdout.write((o.json ? JSON.stringify(summary) : sentence) + '\n');
}

/** A run that failed: one line, and under --json the summary with ok:false, code and error. */
function failed(o: Common, cmd: Command, err: unknown, extra: Record<string, unknown>): void {
  const debug = cmd.optsWithGlobals().debug === true || process.env.NETRESTORE_DEBUG === '1';
  process.exitCode = reportFailure(err, { json: o.json === true, debug, extra });
}

const serverOptions = (c: Command) =>
  c
    .requiredOption('--server <url>', 'the netrestore server, e.g. http://10.0.0.1:8080 or https://10.0.0.1:8443')
    .option('--token <token>', 'token for the server (default: $NETRESTORE_TOKEN)')
    .option('--fingerprint <sha256:hex>', "an https:// server's certificate fingerprint, as its https.listening log line prints it (instead of a CA)")
    .option('--task <id>', 'the one-shot task this runs for: reported started, then done or failed', positiveInt)
    .option('--json', 'print one JSON summary at the end');

/** `open` reads the capture source: raw disks by default, the server's CLI passes one that also reads virtual disks. */
export function registerAgentCommands(cli: Command, open?: (path: string) => Promise<DiskReader>): void {
  registerRestore(cli);
  serverOptions(
    cli
      .command('capture')
      .description('capture a disk (file or block device) as a new image on the server, uploading only new chunks')
      .requiredOption('--source <path>', 'the disk to read')
      .requiredOption('--name <name>', 'name of the new image')
      .option('--description <text>', 'what this image is', '')
      .addOption(new Option('--role <role>', 'server role').choices([...ROLES]).default('generic'))
      .option('--chunk-size <MiB>', 'chunk size in MiB', positiveNumber, 4)
      .option('--raw', 'keep every byte, free space included (a forensic copy)'),
  ).action(async (o: Common & { source: string; name: string; description: string; role: Role; chunkSize: number; raw?: boolean }, cmd: Command) => {
    const base = { image: o.name, source: o.source };
    const bar = terminalProgress();
    const t0 = performance.now();
    try {
      const r = await captureJob(clientFor(o), { ...o, ...(open ? { open } : {}), chunkSize: Math.round(o.chunkSize * 1024 * 1024), onProgress: (p) => bar.update(p), warn });
      bar.end();
      for (const w of r.manifest.warnings) warn(w);
      const { manifest: _m, ...stats } = r;
      finish(o, { ok: true, ...base, ...stats, bytesFetched: 0, bytesWritten: 0, seconds: Number(r.seconds.toFixed(2)), verified: true }, `captured ${o.name}: ${formatBytes(r.bytesTotal)} read, ${formatBytes(r.bytesUploaded)} uploaded in ${r.seconds.toFixed(1)} s`);
    } catch (err) {
      bar.end();
      failed(o, cmd, err, { ...base, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)) });
    }
  });
}

function registerRestore(cli: Command): void {
  serverOptions(
    cli
      .command('restore')
      .description('restore an image from the server to a disk (file or block device); identical chunks are neither fetched nor written')
      .requiredOption('--image <name>', 'the image to restore')
      .requiredOption('--target <path>', 'the disk to write: a block device, or a file outside /dev (a missing file is created)')
      .option('--create-file', 'make a missing target as a file even under /dev')
      .option('--yes', 'do not ask before writing over a disk that holds data')
      .option('--zero-free', 'write zeros over the free space too, for a disk that must be clean (otherwise it is left as it is)')
      .option('--no-verify', 'skip reading the disk back against the image checksum')
      .option('--no-grow', 'on a larger disk, keep the image\'s layout instead of growing the last partition and its filesystem')
      .option('--parallel <n>', 'chunks in flight', positiveInt, DEFAULT_PARALLEL),
  ).action(async (o: Common & { image: string; target: string; yes?: boolean; verify: boolean; grow: boolean; zeroFree?: boolean; createFile?: boolean; parallel: number }, cmd: Command) => {
    const base = { image: o.image, target: o.target };
    const bar = terminalProgress();
    const t0 = performance.now();
    try {
      const r = await restoreJob(clientFor(o), {
        ...o,
        onManifest: (m) => m.warnings.forEach(warn),
        confirm: async (m, size, contents) => o.yes === true || (await confirm(`${o.target} (${formatBytes(size)}) ${describeWhat(contents)}; restoring ${m.name} overwrites all of it.`)),
        onProgress: (p) => bar.update(p),
        warn,
      });
      bar.end();
      finish(o, { ok: true, ...base, ...r, seconds: Number(r.seconds.toFixed(2)) }, `restored ${o.image} to ${o.target}: ${formatBytes(r.bytesWritten)} written, ${r.chunksSkipped} chunks already right, ${r.chunksFree} free chunks left as they were, ${r.verified ? 'verified' : 'not verified'}, ${r.seconds.toFixed(1)} s${r.grown ? '; the last partition and its filesystem grew to fill the disk' : ''}${r.growWarning ? `; not all grown: ${r.growWarning}` : ''}`);
    } catch (err) {
      bar.end();
      failed(o, cmd, err, { ...base, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)), verified: false });
    }
  });
}
