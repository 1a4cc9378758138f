/** `netrestore publish` and `netrestore images …`: the image store from the command line. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { resolve } from 'node:path';
import { exportImage, importImage } from '../images/archive.ts';
import { checkName, ROLES, ROLE_WARNINGS, type Manifest, type Role } from '../shared/format.ts';
import { collectGarbage, removeImage, verifyImage } from '../images/maintenance.ts';
import { publish } from '../images/publish.ts';
import { openSource } from '../images/source.ts';
import { FileStore, type ImageStore } from '../images/store.ts';
import { NetrestoreError } from '../shared/errors.ts';
import { positiveNumber } from '../shared/cli-args.ts';
import { formatBytes, terminalProgress } from '../shared/progress.ts';

const imagesOption = () => new Option('--images <dir>', 'image store directory').default('images');
const openStore = (dir: string) =>
  new FileStore(resolve(dir)).init().catch((err: NodeJS.ErrnoException) => {
    throw new NetrestoreError('STORE_UNUSABLE', `cannot use ${dir} as the image store (${err.code ?? err.message}): check --images and its permissions`, { cause: err });
  });

async function mustRead(store: ImageStore, name: string): Promise<Manifest> {
  const m = await store.readManifest(name);
  if (!m) throw new NetrestoreError('IMAGE_NOT_FOUND', `no image named ${name}; see \`netrestore images list\``);
  return m;
}

/**
 * The bytes an image holds data for: the disk less what the filesystems leave free.
 * (Free bytes are counted from the maps, so the areas outside partitions count as used.)
 */
const usedBytes = (m: Pick<Manifest, 'source' | 'totals'>): number => m.source.size - m.totals.free;

/** The minimal form in JSON: its size, or why there is none. */
const minimalSummary = (m: Pick<Manifest, 'minimal' | 'minimalReason'>) => (m.minimal ? { minimalBytes: m.minimal.size } : m.minimalReason !== undefined ? { minimalReason: m.minimalReason } : {});

/** The minimal form in a sentence. */
const minimalLine = (m: Pick<Manifest, 'minimal' | 'minimalReason' | 'source'>): string =>
  m.minimal
    ? `minimal form: ${formatBytes(m.minimal.size)} (${m.minimal.size} bytes): restores onto a disk down to that size, growing the last partition to fit`
    : `no minimal form: ${m.minimalReason ?? 'none was made (a captured image, or one published before minimal forms)'}; restores only onto a disk that holds the whole image`;

const out = (s: string): void => {
  process.stdout.write(s + '\n');
};

export function registerImageCommands(cli: Command): void {
  cli
    .command('publish')
    .description('publish a disk (raw file, block device, qcow2, VHDX, VMDK or VDI) as an image')
    .argument('<source>', 'the disk to read')
    .requiredOption('--name <name>', 'image name (letters, digits, . _ -)')
    .option('--description <text>', 'what this image is', '')
    .addOption(new Option('--role <role>', 'server role; some carry warnings shown at restore').choices([...ROLES]).default('generic'))
    .option('--chunk-size <MiB>', 'chunk size in MiB', positiveNumber, 4)
    .option('--raw', 'keep every byte, free space included (a forensic copy)')
    .option('--no-minimal', 'do not make the minimal form (the last filesystem shrunk) that lets the image restore onto a smaller disk')
    .addOption(imagesOption())
    .option('--json', 'print a JSON summary at the end')
    .action(async (source: string, o: { name: string; description: string; role: Role; chunkSize: number; raw?: boolean; minimal: boolean; images: string; json?: boolean }) => {
      checkName(o.name); // before anything is opened or created
      const reader = await openSource(source);
      const store = await openStore(o.images).catch(async (err: unknown) => {
        await reader.close();
        throw err;
      });
      const warning = ROLE_WARNINGS[o.role];
      if (warning) process.stderr.write(`warning: ${warning}\n`);
      const bar = terminalProgress();
      const t0 = performance.now();
      try {
        const m = await publish(reader, store, {
          name: o.name,
          description: o.description,
          role: o.role,
          chunkSize: Math.round(o.chunkSize * 1024 * 1024),
          sourcePath: resolve(source),
          ...(o.raw ? { raw: true } : {}),
          minimal: o.minimal,
          onProgress: (p) => bar.update(p),
        });
        bar.end();
        const seconds = (performance.now() - t0) / 1000;
        const summary = { ok: true, image: m.name, source, bytesTotal: m.source.size, bytesStored: m.totals.stored, bytesShared: m.totals.shared, bytesZero: m.totals.zero, bytesFree: m.totals.free, chunks: m.totals.chunks, minTargetBytes: m.minTargetBytes, ...minimalSummary(m), seconds: Number(seconds.toFixed(2)), sha256: m.sha256 };
        if (o.json) out(JSON.stringify(summary));
        else out(`published ${m.name}: ${formatBytes(m.source.size)} disk, ${formatBytes(m.totals.stored)} new in the store, ${formatBytes(m.totals.shared)} shared, ${formatBytes(m.totals.zero)} zeros, ${formatBytes(m.totals.free)} free, ${seconds.toFixed(1)} s; ${minimalLine(m)}`);
      } finally {
        await reader.close();
      }
    });

  const images = cli.command('images').description('list, show, verify, remove, export and import images');

  images
    .command('list')
    .description('the published images')
    .addOption(imagesOption())
    .option('--json', 'as JSON')
    .action(async (o: { images: string; json?: boolean }) => {
      const list = await (await openStore(o.images)).listManifests();
      if (o.json) return out(JSON.stringify(list.map(({ chunks: _c, minimal: _m, ...rest }) => ({ ...rest, ...minimalSummary({ minimal: _m }), usedBytes: usedBytes(rest) }))));
      if (list.length === 0) return out('no images yet: publish one with `netrestore publish DISK --name NAME`');
      out(`${'NAME'.padEnd(24)} ${'CREATED'.padEnd(20)} ${'SIZE'.padStart(10)} ${'USED'.padStart(10)} ${'STORED'.padStart(10)} ROLE`);
      for (const m of list) out(`${m.name.padEnd(24)} ${m.created.slice(0, 19).replace('T', ' ').padEnd(20)} ${formatBytes(m.source.size).padStart(10)} ${formatBytes(usedBytes(m)).padStart(10)} ${formatBytes(m.totals.stored).padStart(10)} ${m.role}`);
    });

  images
    .command('show')
    .description('one image: source, partitions, totals, warnings')
    .argument('<name>')
    .addOption(imagesOption())
    .option('--json', 'the whole manifest as JSON')
    .action(async (name: string, o: { images: string; json?: boolean }) => {
      const m = await mustRead(await openStore(o.images), name);
      if (o.json) return out(JSON.stringify({ ...m, usedBytes: usedBytes(m), ...minimalSummary(m) }, null, 1));
      out(`${m.name}: ${m.description || '(no description)'}`);
      out(`created ${m.created}, role ${m.role}, disk ${formatBytes(m.source.size)} (${m.source.size} bytes, ${m.source.logicalSectorSize}-byte sectors)`);
      out(`partition table: ${m.partitionTable.type}${m.partitionTable.diskId ? ` ${m.partitionTable.diskId}` : ''}`);
      for (const p of m.partitionTable.partitions) out(`  ${p.index}: ${formatBytes(p.size).padStart(10)} at ${p.start}  ${p.typeName ?? p.type}${p.filesystem ? `  ${p.filesystem}` : ''}${p.name ? `  "${p.name}"` : ''}`);
      if (m.partitions.length) {
        out(`filesystems: ${formatBytes(usedBytes(m))} used of ${formatBytes(m.source.size)}; restores onto a disk of at least ${formatBytes(m.minTargetBytes)} (${m.minTargetBytes} bytes)`);
        out(`  ${'#'.padStart(2)}  ${'FS'.padEnd(8)} ${'SIZE'.padStart(10)} ${'USED'.padStart(10)}  MAP`);
        for (const u of m.partitions) {
          const size = m.partitionTable.partitions.find((p) => p.index === u.index)?.size ?? 0;
          out(`  ${String(u.index).padStart(2)}  ${(u.fs ?? '?').padEnd(8)} ${formatBytes(size).padStart(10)} ${formatBytes(u.usedBytes).padStart(10)}  ${u.mapped ? `mapped, ${u.used.length} extent${u.used.length === 1 ? '' : 's'}` : `kept whole: ${u.reason ?? 'no map'}`}`);
        }
      } else out(`restores onto a disk of at least ${formatBytes(m.minTargetBytes)} (${m.minTargetBytes} bytes)`);
      out(minimalLine(m));
      out(`chunks: ${m.totals.chunks} of ${formatBytes(m.chunkSize)}, ${m.totals.zeroChunks} zero; stored ${formatBytes(m.totals.stored)}, shared ${formatBytes(m.totals.shared)}`);
      out(`sha256 ${m.sha256}`);
      for (const w of m.warnings) out(`warning: ${w}`);
    });

  images
    .command('verify')
    .description('re-read every chunk and check it, and the checksum of the whole disk')
    .argument('<name>')
    .addOption(imagesOption())
    .option('--json', 'as JSON')
    .action(async (name: string, o: { images: string; json?: boolean }) => {
      const store = await openStore(o.images);
      const bar = terminalProgress();
      const r = await verifyImage(store, await mustRead(store, name), (p) => bar.update(p));
      bar.end();
      if (o.json) out(JSON.stringify(r));
      else if (r.ok) out(`${name}: all ${r.chunks} chunks and the disk checksum are good`);
      else {
        for (const b of r.bad) out(`${name}: chunk ${b.index} (${b.hash}) is damaged: ${b.reason}`);
        if (!r.sha256) out(`${name}: the whole-disk checksum does not match`);
        out(`${name} is damaged: restore it from an export (\`netrestore images import\`) or publish it again`);
      }
      if (!r.ok) process.exitCode = 1;
    });

  images
    .command('rm')
    .description('remove an image and the chunks no other image uses')
    .argument('<name>')
    .addOption(imagesOption())
    .action(async (name: string, o: { images: string }) => {
      const store = await openStore(o.images);
      await mustRead(store, name);
      const r = await removeImage(store, name);
      out(`removed ${name}; ${r.deferred ? 'unused chunks are kept until the publish in progress ends (run `netrestore images gc`)' : `${r.chunksDeleted} unused chunks deleted, ${formatBytes(r.bytesFreed)} freed`}`);
    });

  images
    .command('gc')
    .description('delete chunks that no image uses')
    .addOption(imagesOption())
    .action(async (o: { images: string }) => {
      const r = await collectGarbage(await openStore(o.images));
      out(r.deferred ? 'a publish is in progress: try again when it ends' : `${r.chunksDeleted} unused chunks deleted, ${formatBytes(r.bytesFreed)} freed`);
    });

  images
    .command('export')
    .description('write an image as one tar stream to standard output (for tape or an offline disk)')
    .argument('<name>')
    .addOption(imagesOption())
    .action(async (name: string, o: { images: string }) => {
      if (process.stdout.isTTY) throw new NetrestoreError('USAGE', 'export writes a tar stream: redirect it, e.g. `netrestore images export NAME > NAME.tar`');
      const store = await openStore(o.images);
      const r = await exportImage(store, await mustRead(store, name), process.stdout);
      process.stderr.write(`exported ${name}: ${r.chunks} chunks, ${formatBytes(r.bytes)}\n`);
    });

  images
    .command('import')
    .description('read an exported image from standard input, check every chunk, and publish it')
    .addOption(imagesOption())
    .action(async (o: { images: string }) => {
      const store = await openStore(o.images);
      const m = await importImage(store, process.stdin);
      out(`imported ${m.name}: ${m.chunks.length} chunks checked`);
    });
}
