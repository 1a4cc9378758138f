/**
 * The minimal form in the manifest: it parses when consistent (its chunks
 * cover its size, it is smaller than the source, minTargetBytes is its size,
 * its maps fit its table) and is refused otherwise; minimalView gives the
 * manifest a smaller disk restores; formFor picks the form by target size;
 * imageChunks lists both forms' chunks for export and garbage collection.
 */
import { describe, expect, it } from 'vitest';
import { formFor, imageChunks, minimalView, parseManifest, type Manifest } from '../../src/shared/format.ts';
import { mappedUse } from '../../src/shared/used-areas.ts';

const MiB = 1024 * 1024;
const CHUNK = MiB;
const H = (c: string) => c.repeat(64);
const part = (size: number) => ({ index: 1, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', start: MiB, size, filesystem: 'ext4' });

const full = {
  format: 'netrestore-image',
  version: 2,
  name: 'img',
  description: '',
  created: '2026-01-01T00:00:00.000Z',
  role: 'generic',
  warnings: [],
  source: { size: 8 * MiB, logicalSectorSize: 512 },
  partitionTable: { type: 'gpt', diskId: 'D', partitions: [part(6 * MiB)] },
  partitions: [mappedUse(1, 'ext4', 6 * MiB, [{ start: 0, length: 2 * MiB }])],
  minTargetBytes: 3 * MiB,
  chunkSize: CHUNK,
  chunks: [H('a'), H('b'), H('c'), null, null, null, null, H('d')],
  totals: { raw: 8 * MiB, zero: 4 * MiB, free: 4 * MiB, stored: 10, shared: 0, chunks: 8, zeroChunks: 4 },
  sha256: H('e'),
  minimal: {
    size: 3 * MiB,
    partitionTable: { type: 'gpt', diskId: 'D', partitions: [part(2 * MiB - 64 * 512)] },
    partitions: [mappedUse(1, 'ext4', 2 * MiB - 64 * 512, [{ start: 0, length: MiB }])],
    chunks: [H('a'), H('f'), H('d')],
    sha256: H('9'),
  },
};
const parse = (o: unknown) => parseManifest(JSON.stringify(o), 'test');
const withMinimal = (m: Record<string, unknown>, rest: object = {}) => ({ ...full, ...rest, minimal: { ...full.minimal, ...m } });

describe('the minimal form in the manifest', () => {
  it('parses with its minimal form, or with a reason for none, or with neither', () => {
    expect(parse(full).minimal?.size).toBe(3 * MiB);
    const { minimal: _, ...none } = full;
    const noForm = { ...none, minTargetBytes: 7 * MiB };
    expect(parse(noForm).minimal).toBeUndefined();
    expect(parse({ ...noForm, minimalReason: 'XFS cannot shrink' }).minimalReason).toBe('XFS cannot shrink');
  });

  it('refuses a minimal form that does not hold together', () => {
    expect(() => parse(withMinimal({ chunks: [H('a'), H('f')] }))).toThrow(/minimal\.chunks: 2 chunks for a 3145728-byte disk/);
    expect(() => parse(withMinimal({ size: 8 * MiB, chunks: full.chunks }, { minTargetBytes: 8 * MiB }))).toThrow(/minimal\.size: .*not smaller/);
    expect(() => parse({ ...full, minTargetBytes: 4 * MiB })).toThrow(/minTargetBytes: .*not the minimal form's size/);
    expect(() => parse(withMinimal({ partitionTable: { ...full.minimal.partitionTable, partitions: [part(6 * MiB)] } }))).toThrow(/minimal\.partitionTable: a partition ends at/);
    expect(() => parse(withMinimal({ partitions: [mappedUse(1, 'ext4', 6 * MiB, [{ start: 0, length: 4 * MiB }])] }))).toThrow(/minimal\.partitions\.0\.used\.0: .*ends past the partition/);
    expect(() => parse(withMinimal({ sha256: 'x' }))).toThrow(/minimal\.sha256/);
    expect(() => parse({ ...full, minimal: { ...full.minimal, extra: 1 } })).toThrow(/minimal/);
    expect(() => parse({ ...full, minimalReason: 'both' })).toThrow(/minimalReason/);
  });

  it('minimalView is the minimal disk with the rest of the image', () => {
    const m = parse(full);
    const v = minimalView(m);
    expect(v.source).toEqual({ size: 3 * MiB, logicalSectorSize: 512 });
    expect(v.partitionTable).toEqual(full.minimal.partitionTable);
    expect(v.partitions).toEqual(full.minimal.partitions);
    expect(v.chunks).toEqual(full.minimal.chunks);
    expect(v.sha256).toBe(H('9'));
    expect(v.minTargetBytes).toBe(3 * MiB);
    expect([v.name, v.role, v.chunkSize, v.created]).toEqual([m.name, m.role, m.chunkSize, m.created]);
    expect(v.minimal).toBeUndefined();
    // The view is itself a valid manifest (restore and grow read it as one).
    expect(parse(v)).toEqual(v);
    // The image's manifest is left as it was.
    expect(m.source.size).toBe(8 * MiB);
    const { minimal: _, ...none } = full;
    expect(() => minimalView(parse({ ...none, minTargetBytes: 7 * MiB, minimalReason: 'XFS cannot shrink' }))).toThrow(/no minimal form \(XFS cannot shrink\)/);
  });

  it('formFor: the full form on a disk as large as the source, the minimal one on a smaller disk down to its size', () => {
    const m = parse(full);
    expect(formFor(m, 8 * MiB)).toBe(m);
    expect(formFor(m, 100 * MiB)).toBe(m);
    expect(formFor(m, 8 * MiB - 512).source.size).toBe(3 * MiB);
    expect(formFor(m, 3 * MiB).source.size).toBe(3 * MiB);
    // Below the minimal form: the image itself, which the restore refuses naming both sizes.
    expect(formFor(m, 3 * MiB - 512)).toBe(m);
    const { minimal: _, ...none } = full;
    const plain = parse({ ...none, minTargetBytes: 7 * MiB });
    expect(formFor(plain, 7 * MiB)).toBe(plain);
  });

  it('imageChunks holds both forms\' chunks once each', () => {
    expect(imageChunks(parse(full)).sort()).toEqual([H('a'), H('b'), H('c'), H('d'), H('f')]);
  });
});
