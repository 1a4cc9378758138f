/**
 * netrestore's own FAT grow (fat-grow-plan.ts, fat-grow.ts) on small
 * filesystems made by mkfs.fat and filled through mtools, grown in image
 * files as a restore onto a larger disk would leave them: fsck.fat -n finds
 * nothing, mtools reads every name and byte back and counts the new free
 * space, the serial and label stay; damaged ones are refused with nothing
 * written.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { growFat } from '../../src/restore-agent/fat-grow.ts';
import { newLayout, planFatGrow } from '../../src/restore-agent/fat-grow-plan.ts';
import { EOC, getEntry, parseBpb, setEntry, type Bpb } from '../../src/restore-agent/fat-layout.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'nr-fat-grow-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { MTOOLS_SKIP_CHECK: '1' };
const m = (cmd: string, args: string[]) => execa(cmd, args, { env });
let n = 0;

const bytes = (size: number, seed: string) => {
  const out = Buffer.alloc(size);
  for (let i = 0, h = Buffer.alloc(0); i < size; i += 32) {
    h = createHash('sha256').update(h).update(seed).digest();
    h.copy(out, i);
  }
  return out;
};

/** A tree of files on the host: deep directories, long and mixed-case names, an empty file, one of many clusters. */
function sampleTree(root: string, bigKiB: number): void {
  const put = (p: string, d: Buffer) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), d);
  };
  put('README.TXT', Buffer.from('first file, written first: its clusters are where the FAT grows\n'));
  put('A rather long file name with spaces.bin', bytes(70_000, 'long'));
  put('empty', Buffer.alloc(0));
  let deep = 'level1';
  for (let i = 2; i <= 9; i++) deep += `/Level ${i} Directory`;
  put(`${deep}/deepest file.txt`, Buffer.from('nine directories down\n'));
  put('Mixed/Case/Name.Ext', bytes(5000, 'mixed'));
  for (let i = 0; i < 40; i++) put(`many/file number ${i} with a long name.dat`, bytes(600 + i * 37, `many${i}`));
  put('big.bin', bytes(bigKiB * 1024, 'big'));
}

function hashTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** A new file of `size` bytes that reads as zeros and takes no room. */
function sparse(path: string, size: number): void {
  writeFileSync(path, '');
  truncateSync(path, size);
}

interface Made {
  img: string;
  tree: string;
}

/** mkfs.fat with `args` on `mib` MiB, the sample tree copied in, then (unless told not to) a file made fragmented. */
async function makeFat(mib: number, args: string[], o: { bigKiB?: number; fragmented?: false } = {}): Promise<Made> {
  const img = join(dir, `fat${++n}.img`);
  const tree = join(dir, `tree${n}`);
  sparse(img, mib * MiB);
  await m('mkfs.fat', [...args, '-n', 'NRLABEL', '-i', '1234ABCD', img]);
  sampleTree(tree, o.bigKiB ?? 300);
  await execa('sh', ['-c', 'mcopy -s -Q -i "$0" * ::/', img], { cwd: tree, env });
  if (o.fragmented === false) return { img, tree };
  // Fragmented: a 16 KiB hole near the start, then a 20 kB file. mtools allocates first-fit on
  // FAT12/16, so the file takes the hole and goes on past it; on FAT32 it starts from FSInfo's
  // next-free hint, so a filler first leaves only 10 kB free past the hint and the file wraps around.
  mkdirSync(join(tree, 'frag'));
  writeFileSync(join(tree, 'frag', 'fragmented.bin'), bytes(20_000, 'frag'));
  await m('mmd', ['-i', img, '::/frag']);
  writeFileSync(join(dir, 'hole'), bytes(16_384, 'hole'));
  await m('mcopy', ['-i', img, join(dir, 'hole'), '::/hole1']);
  await m('mcopy', ['-i', img, join(tree, 'README.TXT'), '::/hole2']);
  await m('mdel', ['-i', img, '::/hole1']);
  const b = bpbOf(img);
  const filler = join(dir, `filler${n}`);
  if (b.type === 32) {
    const cluster = b.sectorsPerCluster * b.bytesPerSector;
    sparse(filler, (await freeBytes(img)) - 16_384 - Math.ceil(10_000 / cluster) * cluster);
    await m('mcopy', ['-i', img, filler, '::/filler']);
    rmSync(filler);
  }
  await m('mcopy', ['-i', img, join(tree, 'frag', 'fragmented.bin'), '::/frag/']);
  if (b.type === 32) await m('mdel', ['-i', img, '::/filler']);
  const runs = (await m('mshowfat', ['-i', img, '::/frag/fragmented.bin'])).stdout.match(/<[\d-]+>/g) ?? [];
  expect(runs.length, 'fragmented.bin is in more than one run').toBeGreaterThan(1);
  writeFileSync(join(tree, 'hole2'), readFileSync(join(tree, 'README.TXT')));
  return { img, tree };
}

const bpbOf = (img: string): Bpb => {
  const b = parseBpb(readFileSync(img).subarray(0, 512));
  if ('reason' in b) throw new Error(b.reason);
  return b;
};

async function fsck(img: string): Promise<{ ok: boolean; out: string; sectors: number; clusters: number }> {
  const r = await execa('fsck.fat', ['-n', '-v', img], { reject: false, all: true });
  const out = r.all ?? '';
  return { ok: r.exitCode === 0 && !/differ|wrong|mismatch|invalid|lost|corrupt/i.test(out), out, sectors: Number(/(\d+) sectors total/.exec(out)?.[1]), clusters: Number(/\d+\/(\d+) clusters/.exec(out)?.[1]) };
}

async function readBack(img: string): Promise<Record<string, string>> {
  const out = join(dir, `back${++n}`);
  mkdirSync(out);
  await m('mcopy', ['-s', '-n', '-i', img, '::/*', out]);
  return hashTree(out);
}

async function freeBytes(img: string): Promise<number> {
  const r = await m('mdir', ['-i', img, '::/']);
  return Number(/([\d ]+) bytes free/.exec(r.stdout)![1]!.replace(/ /g, ''));
}

const serialAndLabel = async (img: string) => {
  const info = (await m('minfo', ['-i', img, '::'])).stdout;
  return { serial: /serial number: (\w+)/.exec(info)?.[1], label: (await m('mlabel', ['-s', '-i', img, '::'])).stdout.trim() };
};

/** The directory entry of 8.3 name `name` (found by its bytes: the test's names are unique) and its first cluster. */
function entryOf(d: Buffer, b: Bpb, name: string): { at: number; c: number } {
  const at = d.indexOf(Buffer.from(name, 'latin1'));
  if (at < 0) throw new Error(`no entry ${name}`);
  return { at, c: (b.type === 32 ? d.readUInt16LE(at + 20) << 16 : 0) + d.readUInt16LE(at + 26) };
}

/** The clusters of the chain of file `name`, read with fat-layout's entry codec. */
function chainOf(d: Buffer, b: Bpb, name: string): number[] {
  const fat = d.subarray(b.reservedSectors * b.bytesPerSector);
  const out = [entryOf(d, b, name).c];
  for (let next = getEntry(fat, b.type, out.at(-1)!); next < EOC[b.type]; next = getEntry(fat, b.type, next)) out.push(next);
  return out;
}

async function growAndCheck(made: Made, mib: number) {
  const before = { bpb: bpbOf(made.img), free: await freeBytes(made.img), id: await serialAndLabel(made.img) };
  truncateSync(made.img, mib * MiB);
  const r = await growFat(made.img, 0, mib * MiB);
  const f = await fsck(made.img);
  expect(f.ok, f.out).toBe(true);
  const after = bpbOf(made.img);
  expect(f.sectors).toBe(after.totalSectors);
  expect(f.clusters).toBe(after.clusters);
  expect(after.type).toBe(before.bpb.type);
  expect(after.sectorsPerCluster).toBe(before.bpb.sectorsPerCluster);
  expect(after.reservedSectors).toBe(before.bpb.reservedSectors);
  expect(await serialAndLabel(made.img)).toEqual(before.id);
  expect(before.id).toEqual({ serial: '1234ABCD', label: 'Volume label is NRLABEL' });
  expect(await readBack(made.img)).toEqual(hashTree(made.tree));
  const free = await freeBytes(made.img);
  return { r, before, after, free };
}

describe('FAT32', () => {
  it('grows onto twice the size: the FATs grow over clusters in use, which move; everything renumbered, fsck.fat clean, every file back', async () => {
    const made = await makeFat(64, ['-F', '32']);
    const { r, before, after, free } = await growAndCheck(made, 128);
    expect(r).toMatchObject({ grown: true, type: 32, fromBytes: 64 * MiB, toBytes: 128 * MiB });
    expect(r.moved).toBeGreaterThan(100);
    expect(after.fatSectors).toBeGreaterThan(before.bpb.fatSectors);
    expect(after.totalSectors).toBe((128 * MiB) / 512);
    // The root directory, at cluster 2 before, is at cluster 2 again (fatgen103 asks it of tools that move it).
    expect([before.bpb.rootCluster, after.rootCluster]).toEqual([2, 2]);
    expect((await m('minfo', ['-i', made.img, '::'])).stdout).toMatch(/rootCluster=2\n/);
    const clusterBytes = after.sectorsPerCluster * 512;
    expect(free - before.free).toBe((after.clusters - before.bpb.clusters) * clusterBytes);
    // The backup boot sector is the new one too.
    const d = readFileSync(made.img);
    expect(d.subarray(6 * 512, 6 * 512 + 512).equals(d.subarray(0, 512))).toBe(true);
    // A second run finds nothing to do: the FAT already covers the partition.
    const again = await growFat(made.img, 0, 128 * MiB);
    expect(again).toMatchObject({ grown: false, warning: expect.stringMatching(/keeps its old size/) });
    expect((await fsck(made.img)).ok).toBe(true);
  });

  it('with 4 KiB clusters (the FAT grows by whole clusters) and at an offset inside a larger image', async () => {
    const made = await makeFat(300, ['-F', '32', '-s', '8']);
    const part = join(dir, 'with-offset.img');
    // The filesystem as a partition 1 MiB into a disk image, 600 MiB after the restore.
    await execa('sh', ['-c', `dd if=/dev/zero of="$0" bs=1M count=1 status=none && cat "$1" >> "$0" && truncate -s ${601 * MiB} "$0"`, part, made.img]);
    const r = await growFat(part, MiB, 600 * MiB);
    expect(r).toMatchObject({ grown: true, type: 32, toBytes: 600 * MiB });
    await execa('sh', ['-c', `dd if="$0" of="$1" bs=1M skip=1 status=none`, part, made.img]);
    const f = await fsck(made.img);
    expect(f.ok, f.out).toBe(true);
    expect(f.sectors).toBe((600 * MiB) / 512);
    expect(await readBack(made.img)).toEqual(hashTree(made.tree));
  });

  it('a partition only slightly larger: the FAT has room already, nothing moves', async () => {
    const made = await makeFat(64, ['-F', '32']);
    const { r, after, before } = await growAndCheck(made, 64.0625);
    expect(r).toMatchObject({ grown: true, moved: 0 });
    expect(after.fatSectors).toBe(before.bpb.fatSectors);
    expect(after.clusters).toBeGreaterThan(before.bpb.clusters);
  });
});

describe('FAT16 and FAT12', () => {
  it('FAT16 onto twice the size: the root directory moves with the FATs', async () => {
    const made = await makeFat(32, ['-F', '16']);
    const { r, before, after, free } = await growAndCheck(made, 64);
    expect(r).toMatchObject({ grown: true, type: 16, toBytes: 64 * MiB });
    expect(r.warning).toBeUndefined();
    expect(after.dataStart).toBeGreaterThan(before.bpb.dataStart);
    expect(free).toBeGreaterThan(before.free + 30 * MiB);
  });

  it('FAT16 up to its cluster limit: it grows to 65524 clusters and says the rest is unused', async () => {
    const made = await makeFat(24, ['-F', '16', '-s', '1']);
    const { r, after } = await growAndCheck(made, 64);
    expect(after.clusters).toBe(65524);
    expect(r.grown).toBe(true);
    expect(r.warning).toMatch(/its FAT16 filesystem grew to \d+ bytes, the most FAT16 allows with its 512-byte clusters \(65524 clusters\)/);
  });

  it('FAT12 grows up to 4084 clusters; one at its limit already keeps its size, with the reason', async () => {
    const made = await makeFat(1, ['-F', '12', '-s', '1'], { bigKiB: 100 });
    const { r, after } = await growAndCheck(made, 4);
    expect(r).toMatchObject({ grown: true, type: 12 });
    expect(after.clusters).toBe(4084);
    expect(r.warning).toMatch(/FAT12 allows/);
    truncateSync(made.img, 8 * MiB);
    expect(await growFat(made.img, 0, 8 * MiB)).toMatchObject({ grown: false, warning: expect.stringMatching(/already has the most clusters FAT12 allows \(4084\)/) });
  });
});

describe('other geometries', () => {
  it('4096-byte sectors, a single FAT, a 1024-entry FAT16 root, 2 KiB FAT32 clusters with 64 reserved sectors', async () => {
    const cases: { mib: number; args: string[]; to: number; want: Partial<Bpb> }[] = [
      { mib: 300, args: ['-F', '32', '-S', '4096'], to: 600, want: { bytesPerSector: 4096, fats: 2 } },
      { mib: 64, args: ['-F', '32', '-f', '1'], to: 128, want: { bytesPerSector: 512, fats: 1 } },
      { mib: 32, args: ['-F', '16', '-r', '1024'], to: 64, want: { rootEntries: 1024, fats: 2 } },
      { mib: 160, args: ['-F', '32', '-s', '4', '-R', '64'], to: 400, want: { sectorsPerCluster: 4, reservedSectors: 64 } },
    ];
    for (const c of cases) {
      const made = await makeFat(c.mib, c.args, { fragmented: false });
      const { r, after } = await growAndCheck(made, c.to);
      expect(r, c.args.join(' ')).toMatchObject({ grown: true, toBytes: c.to * MiB });
      expect(r.moved, c.args.join(' ')).toBeGreaterThan(0);
      expect(after).toMatchObject(c.want);
    }
  });
});

describe('refused, nothing written', () => {
  const refusedUnchanged = async (img: string, mib: number, why: RegExp) => {
    truncateSync(img, mib * MiB);
    const before = createHash('sha256').update(readFileSync(img)).digest('hex');
    const err = await growFat(img, 0, mib * MiB).catch((e: unknown) => e);
    expect(isNetrestoreError(err, 'GROW_FAILED'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect(createHash('sha256').update(readFileSync(img)).digest('hex')).toBe(before);
  };
  const patch = (img: string, fn: (d: Buffer, b: Bpb) => void) => {
    const d = readFileSync(img);
    fn(d, bpbOf(img));
    writeFileSync(img, d);
  };
  const fats = (d: Buffer, b: Bpb) => Array.from({ length: b.fats }, (_, i) => d.subarray((b.reservedSectors + i * b.fatSectors) * b.bytesPerSector, (b.reservedSectors + (i + 1) * b.fatSectors) * b.bytesPerSector));

  it('the dirty bit (boot sector, and FAT16\'s clean-shutdown bit in the FAT)', async () => {
    const a = await makeFat(64, ['-F', '32'], { fragmented: false });
    patch(a.img, (d, b) => void (d[b.stateOffset] = d[b.stateOffset]! | 1));
    await refusedUnchanged(a.img, 128, /marked dirty/);
    const c = await makeFat(32, ['-F', '16'], { fragmented: false });
    patch(c.img, (d, b) => fats(d, b).forEach((f) => setEntry(f, 16, 1, getEntry(f, 16, 1) & ~0x8000)));
    await refusedUnchanged(c.img, 64, /not cleanly unmounted/);
  });

  it('a chain that loops, one that leaves the volume, cross-linked files, FAT copies that differ, a file longer than its chain, a bad BPB', async () => {
    const first = entryOf;
    // The chain's last cluster points back to its first: every cluster has one predecessor, and no chain starts.
    const loop = await makeFat(64, ['-F', '32'], { fragmented: false });
    patch(loop.img, (d, b) => {
      const chain = chainOf(d, b, 'BIG     BIN');
      fats(d, b).forEach((f) => setEntry(f, 32, chain.at(-1)!, chain[0]!));
    });
    await refusedUnchanged(loop.img, 128, /\d+ of its clusters in use form a loop/);

    // Two clusters lead to the same next one.
    const two = await makeFat(64, ['-F', '32'], { fragmented: false });
    patch(two.img, (d, b) => {
      const chain = chainOf(d, b, 'BIG     BIN');
      fats(d, b).forEach((f) => setEntry(f, 32, chain[5]!, chain[1]!));
    });
    await refusedUnchanged(two.img, 128, /is in two chains \(cross-linked\)/);

    const out = await makeFat(32, ['-F', '16'], { fragmented: false });
    patch(out.img, (d, b) => {
      const { c } = first(d, b, 'BIG     BIN');
      fats(d, b).forEach((f) => setEntry(f, 16, c + 1, b.clusters + 50));
    });
    await refusedUnchanged(out.img, 64, /points to \d+, outside its \d+ clusters/);

    const cross = await makeFat(64, ['-F', '32'], { fragmented: false });
    patch(cross.img, (d, b) => {
      // big.bin (read after README.TXT) now starts where README.TXT does.
      const big = first(d, b, 'BIG     BIN');
      const readme = first(d, b, 'README  TXT');
      d.writeUInt16LE(readme.c >>> 16, big.at + 20);
      d.writeUInt16LE(readme.c & 0xffff, big.at + 26);
    });
    await refusedUnchanged(cross.img, 128, /file \/BIG.BIN starts at cluster \d+, which another entry owns too \(cross-linked\)/i);

    const differ = await makeFat(64, ['-F', '32'], { fragmented: false });
    patch(differ.img, (d, b) => {
      const f = fats(d, b)[1]!;
      f[100] = f[100]! ^ 1;
    });
    await refusedUnchanged(differ.img, 128, /FAT copies 1 and 2 differ/);

    const size = await makeFat(32, ['-F', '16'], { fragmented: false });
    patch(size.img, (d, b) => {
      const { at } = first(d, b, 'README  TXT');
      d.writeUInt32LE(d.readUInt32LE(at + 28) + 100_000, at + 28);
    });
    await refusedUnchanged(size.img, 64, /file \/README.TXT has \d+ bytes but a chain of 1 clusters/);

    const bpb = await makeFat(32, ['-F', '16'], { fragmented: false });
    patch(bpb.img, (d) => void (d[13] = 3));
    await refusedUnchanged(bpb.img, 64, /3 sectors per cluster/);

    // mkfs.fat makes it with a warning; Windows would read it as FAT16, Linux as FAT32.
    const few = join(dir, 'few.img');
    sparse(few, 64 * MiB);
    await m('mkfs.fat', ['-F', '32', '-s', '2', few]);
    await refusedUnchanged(few, 200, /has FAT32 fields but only \d+ clusters \(FAT32 has at least 65525\)/);
  });
});

describe('interrupted', () => {
  it('a grow stopped after its data and directories is a dirty volume: a rerun refuses it, nothing written', async () => {
    const made = await makeFat(64, ['-F', '32'], { fragmented: false });
    truncateSync(made.img, 128 * MiB);
    const d = readFileSync(made.img);
    const plan = await planFatGrow(async (at, length) => Buffer.from(d.subarray(at, at + length)), 128 * MiB);
    if ('none' in plan) throw new Error(plan.none);
    expect(plan.directories.length).toBeGreaterThan(0);
    // What fat-grow.ts has written when it stops before the FATs.
    for (const w of [plan.markDirty, ...plan.copies.map((c) => ({ offset: c.to, data: Buffer.from(d.subarray(c.from, c.from + c.length)) })), ...plan.directories]) w.data.copy(d, w.offset);
    writeFileSync(made.img, d);
    const f = await execa('fsck.fat', ['-n', made.img], { reject: false, all: true });
    expect(f.all).toMatch(/Dirty bit is set/);
    const before = createHash('sha256').update(readFileSync(made.img)).digest('hex');
    const err = await growFat(made.img, 0, 128 * MiB).catch((e: unknown) => e);
    expect(isNetrestoreError(err, 'GROW_FAILED') && (err as Error).message).toMatch(/marked dirty/);
    expect(createHash('sha256').update(readFileSync(made.img)).digest('hex')).toBe(before);
  });
});

describe('newLayout', () => {
  it('the FATs grow by a whole number of clusters and cover every cluster of the new size', () => {
    const b: Bpb = { type: 32, bytesPerSector: 512, sectorsPerCluster: 8, reservedSectors: 32, fats: 2, rootEntries: 0, totalSectors: 1_048_576, fatSectors: 1021, rootCluster: 2, fsInfoSector: 1, backupBootSector: 6, rootDirSectors: 0, dataStart: 2074, clusters: 130_812, stateOffset: 65, volumeId: 0, label: '' };
    for (const gib of [1, 2, 7, 100, 1000]) {
      const l = newLayout(b, gib * 1024 * MiB);
      if ('none' in l) throw new Error(l.none);
      expect((2 * (l.fatSectors - b.fatSectors)) % 8).toBe(0);
      expect((l.clusters + 2) * 4).toBeLessThanOrEqual(l.fatSectors * 512);
      // The smallest such FAT: one aligned step less would not cover its clusters.
      const smaller = l.fatSectors - 4;
      const clustersThen = Math.floor((l.totalSectors - 32 - 2 * smaller) / 8);
      expect((clustersThen + 2) * 4).toBeGreaterThan(smaller * 512);
      expect(l.m).toBe((2 * (l.fatSectors - b.fatSectors)) / 8);
    }
  });
});
