/**
 * The image format, shared by the server and the restore agent: a manifest
 * plus content-addressed chunks. The disk is cut into fixed chunks at fixed
 * offsets; an all-zero chunk is not stored; every other chunk is stored once,
 * zstd-compressed, under the SHA-256 of its raw bytes.
 *
 * v2 adds what the filesystems use: per partition its used-block map (or
 * that it was kept whole), so free blocks are zeros in the image, and the
 * smallest disk the image restores onto. A v1 manifest is read as a v2 one
 * whose partitions are all kept whole: exactly what a v1 image is.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NetrestoreError } from './errors.ts';
import { freeAreas, partitionUseSchema, wholeUse, type Extent, type PartitionUse } from './used-areas.ts';

export const FORMAT_VERSION = 2;
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export const ROLES = ['generic', 'file-server', 'domain-controller', 'exchange', 'sql', 'web-server', 'hypervisor'] as const;
export type Role = (typeof ROLES)[number];

/** What an admin must know before restoring an image of this role. */
export const ROLE_WARNINGS: Partial<Record<Role, string>> = {
  'domain-controller':
    'Domain controller image: restoring it where other domain controllers replicate causes a USN rollback that no one notices. ' +
    'After the restore, boot into Directory Services Restore Mode and do a non-authoritative System State restore before the machine rejoins the network.',
  exchange:
    'Exchange server image: an image is a crash-consistent snapshot, not an Exchange backup. Mailbox databases restart from it but may need repair (eseutil); keep real Exchange backups.',
  sql: 'SQL Server image: crash-consistent only. Databases recover from their logs at start-up; check them (DBCC CHECKDB) before use.',
};

/** Restoring these can hurt the rest of the network (USN rollback, a second Exchange): the menu and the agent ask twice. */
export const needsConfirmation = (role: Role): boolean => role === 'domain-controller' || role === 'exchange';

export const CRASH_CONSISTENT = 'An image is a crash-consistent snapshot of the disk: transactional systems start again from it; other open files may not.';

/** Image names are file names and URL segments: keep them plain. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Refuse a name the store, the menus and the kernel command line cannot carry safely. */
export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new NetrestoreError('IMAGE_NAME', `image name "${name}" is not allowed: use letters, digits, dot, dash and underscore, starting with a letter or digit`);
}

const hash = z.string().regex(/^[0-9a-f]{64}$/);

export const partitionSchema = z.object({
  index: z.number().int().min(1),
  /** MBR type byte as hex ("07") or GPT type GUID. */
  type: z.string(),
  typeName: z.string().optional(),
  start: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
  name: z.string().optional(),
  filesystem: z.string().optional(),
});

const baseFields = {
  format: z.literal('netrestore-image'),
  name: z.string().regex(NAME_PATTERN),
  description: z.string().max(2000).default(''),
  created: z.string().datetime(),
  role: z.enum(ROLES),
  warnings: z.array(z.string()),
  source: z.object({
    size: z.number().int().positive(),
    logicalSectorSize: z.number().int().positive(),
    /** Where it was taken from, for the admin's record. */
    path: z.string().optional(),
    format: z.string().optional(),
  }),
  partitionTable: z.object({
    type: z.enum(['mbr', 'gpt', 'none']),
    diskId: z.string().optional(),
    partitions: z.array(partitionSchema),
  }),
  chunkSize: z.number().int().min(4096).max(64 * 1024 * 1024),
  /** One entry per chunk: its SHA-256, or null for a chunk of zeros (free space counts as zeros in v2). */
  chunks: z.array(hash.nullable()),
};

const totalsV1 = z.object({
  raw: z.number().int().nonnegative(),
  zero: z.number().int().nonnegative(),
  /** Compressed bytes this image added to the store. */
  stored: z.number().int().nonnegative(),
  /** Raw bytes of chunks that were already in the store (shared with other images, or repeated). */
  shared: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  zeroChunks: z.number().int().nonnegative(),
});

const chunkCount = (m: { source: { size: number }; chunkSize: number; chunks: unknown[] }, ctx: z.RefinementCtx, path: (string | number)[] = ['chunks']) => {
  const want = Math.ceil(m.source.size / m.chunkSize);
  if (m.chunks.length !== want) ctx.addIssue({ code: 'custom', path, message: `${m.chunks.length} chunks for a ${m.source.size}-byte disk at ${m.chunkSize} bytes a chunk (want ${want})` });
};

/** Format 1: every byte of the disk; the SHA-256 is of the raw disk. */
const manifestV1Schema = z
  .object({
    ...baseFields,
    version: z.literal(1),
    totals: totalsV1,
    /** SHA-256 of the whole raw disk. */
    sha256: hash,
  })
  .strict();

const tableSchema = baseFields.partitionTable;

/**
 * The image's minimal form: the same disk with its last partition's
 * filesystem shrunk to its minimum (made by publish, images/minimal-form.ts),
 * chunked at the image's chunk size into the same store. A restore onto a
 * disk smaller than the source restores this form and grows it to fit.
 */
const minimalSchema = z
  .object({
    /** Bytes of the minimal disk: the smallest disk the image restores onto. */
    size: z.number().int().positive(),
    partitionTable: tableSchema,
    partitions: z.array(partitionUseSchema),
    chunks: z.array(hash.nullable()),
    /** SHA-256 of the minimal disk as restored: free space zeroed. */
    sha256: hash,
  })
  .strict();

export type MinimalForm = z.infer<typeof minimalSchema>;

/** Each used extent in order, inside its partition, and every partition in the table. */
function checkUses(uses: PartitionUse[], table: z.infer<typeof tableSchema>, ctx: z.RefinementCtx, at: (string | number)[]): void {
  for (const [i, u] of uses.entries()) {
    const p = table.partitions.find((x) => x.index === u.index);
    if (!p) ctx.addIssue({ code: 'custom', path: [...at, i, 'index'], message: `partition ${u.index} is not in the partition table` });
    // The free areas are derived from these extents: out of order or past the partition, they would call used bytes free.
    let end = 0;
    for (const [j, [start, length]] of u.used.entries()) {
      if (start < end || (p && start + length > p.size)) ctx.addIssue({ code: 'custom', path: [...at, i, 'used', j], message: `extent [${start}, ${length}] is out of order, overlaps another or ends past the partition` });
      end = start + length;
    }
  }
}

/** Format 2: only what the filesystems use. */
export const manifestSchema = z
  .object({
    ...baseFields,
    version: z.literal(2),
    /** What each partition's filesystem uses; a partition not listed (or kept whole) is all used. */
    partitions: z.array(partitionUseSchema),
    /** The smallest disk this image restores onto. */
    minTargetBytes: z.number().int().positive(),
    totals: totalsV1.extend({
      /** Bytes the filesystems do not use: zeros in the image, neither stored, sent nor written. */
      free: z.number().int().nonnegative(),
    }),
    /** SHA-256 of the whole disk as restored: free space zeroed. */
    sha256: hash,
    /** The minimal form, when the last partition's filesystem could shrink. */
    minimal: minimalSchema.optional(),
    /** Why there is no minimal form ("XFS cannot shrink …"). */
    minimalReason: z.string().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    chunkCount(m, ctx);
    if (m.minTargetBytes > m.source.size) ctx.addIssue({ code: 'custom', path: ['minTargetBytes'], message: `${m.minTargetBytes} is more than the ${m.source.size}-byte disk it was taken from` });
    checkUses(m.partitions, m.partitionTable, ctx, ['partitions']);
    const mf = m.minimal;
    if (!mf) return;
    if (m.minimalReason !== undefined) ctx.addIssue({ code: 'custom', path: ['minimalReason'], message: 'an image with a minimal form has no reason for lacking one' });
    chunkCount({ source: { size: mf.size }, chunkSize: m.chunkSize, chunks: mf.chunks }, ctx, ['minimal', 'chunks']);
    if (mf.size >= m.source.size) ctx.addIssue({ code: 'custom', path: ['minimal', 'size'], message: `a minimal form of ${mf.size} bytes is not smaller than the ${m.source.size}-byte disk` });
    if (m.minTargetBytes !== mf.size) ctx.addIssue({ code: 'custom', path: ['minTargetBytes'], message: `${m.minTargetBytes} is not the minimal form's size (${mf.size})` });
    const partEnd = Math.max(0, ...mf.partitionTable.partitions.map((p) => p.start + p.size));
    if (partEnd > mf.size) ctx.addIssue({ code: 'custom', path: ['minimal', 'partitionTable'], message: `a partition ends at ${partEnd}, past the ${mf.size}-byte minimal form` });
    checkUses(mf.partitions, mf.partitionTable, ctx, ['minimal', 'partitions']);
  });

const anyVersionSchema = z.discriminatedUnion('version', [manifestV1Schema.superRefine((m, ctx) => chunkCount(m, ctx)), manifestSchema]);

export type Manifest = z.infer<typeof manifestSchema>;
export type Partition = z.infer<typeof partitionSchema>;

/** Parse and validate a manifest; a damaged or truncated one gives a sentence, not a stack. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new NetrestoreError('MANIFEST_INVALID', `${where} is not valid JSON (${(err as Error).message}): the manifest is damaged or truncated`);
  }
  const r = anyVersionSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new NetrestoreError('MANIFEST_INVALID', `${where} is not a valid image manifest: ${first.path.join('.') || '(top level)'}: ${first.message}`);
  }
  return r.data.version === 1 ? upgradeV1(r.data) : r.data;
}

/**
 * A v1 manifest as the v2 one it amounts to: every partition kept whole,
 * nothing free, so its chunks and its raw-disk SHA-256 mean the same; it
 * restores onto a disk at least as large as its source.
 */
export function upgradeV1(m: z.infer<typeof manifestV1Schema>): Manifest {
  return {
    ...m,
    version: 2,
    partitions: m.partitionTable.partitions.map((p) => wholeUse(p.index, p.filesystem, p.size, 'image of format 1: free space was not mapped')),
    minTargetBytes: m.source.size,
    totals: { ...m.totals, free: 0 },
  };
}

/**
 * The image as its minimal form: what a restore onto a disk smaller than the
 * source writes (then grows to fit). Its disk, table, maps, chunks and
 * checksum are the minimal form's; everything else is the image's.
 */
export function minimalView(m: Manifest): Manifest {
  const mf = m.minimal;
  if (!mf) throw new NetrestoreError('MANIFEST_INVALID', `image ${m.name} has no minimal form${m.minimalReason ? ` (${m.minimalReason})` : ''}`);
  const { minimal: _, minimalReason: __, ...rest } = m;
  return { ...rest, source: { ...m.source, size: mf.size }, partitionTable: mf.partitionTable, partitions: mf.partitions, chunks: mf.chunks, sha256: mf.sha256, minTargetBytes: mf.size };
}

/**
 * Which form a restore onto `targetSize` bytes writes: the image as it is on
 * a disk at least as large as the source; on a smaller one its minimal form
 * when it has one: grown afterwards, it fills the disk, where the full form
 * would keep its last partition's old size (and fits only if the source
 * ended in empty space). Below the minimal form the restore refuses.
 */
export function formFor(m: Manifest, targetSize: number): Manifest {
  return targetSize < m.source.size && m.minimal && targetSize >= m.minimal.size ? minimalView(m) : m;
}

/** Every chunk an image refers to, its minimal form's included: what export carries and garbage collection keeps. */
export function imageChunks(m: Manifest): string[] {
  return [...new Set([...m.chunks, ...(m.minimal?.chunks ?? [])].filter((h): h is string => h !== null))];
}

/** The free areas of an image's disk, absolute and sorted (none for a partition kept whole). */
export function manifestFree(m: Pick<Manifest, 'partitions' | 'partitionTable'>): Extent[] {
  return freeAreas(m.partitions, m.partitionTable.partitions);
}

/** Sectors the GPT backup (its header and entries) takes at the end of a disk. */
export const GPT_BACKUP_SECTORS = 33;

/**
 * The smallest disk an image restores onto: every partition ends on it, a
 * GPT keeps room for its backup (the restore writes it anew at the end), and
 * nothing outside the partitions that is not zeros is cut off. `lastDataEnd`:
 * where the last non-zero byte outside the partitions (and outside the old
 * GPT backup) ends, 0 for none.
 */
export function minTargetBytes(table: Manifest['partitionTable'], sectorSize: number, size: number, lastDataEnd: number): number {
  const partEnd = Math.max(0, ...table.partitions.map((p) => p.start + p.size));
  const gpt = table.type === 'gpt' ? GPT_BACKUP_SECTORS * sectorSize : 0;
  const need = Math.max(partEnd + gpt, lastDataEnd, sectorSize);
  return Math.min(size, Math.ceil(need / sectorSize) * sectorSize);
}

/** SHA-256 in hex: of a chunk, or of a token (stored hashed). Worker threads that cannot import this keep their own. */
export const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** Where a chunk lives in a store: chunks/ab/cd/abcd….zst. */
export function chunkPath(h: string): string {
  return `chunks/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}.zst`;
}

let zeros = Buffer.alloc(0);
/** All zero? A memcmp against a zero buffer: the fast path of a mostly empty disk. */
export function isZero(b: Uint8Array): boolean {
  if (zeros.length < b.byteLength) zeros = Buffer.alloc(b.byteLength);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(zeros.subarray(0, b.byteLength));
}

/** Byte range of chunk `i` of a disk of `size` bytes. */
export function chunkSpan(i: number, chunkSize: number, size: number): { offset: number; length: number } {
  const offset = i * chunkSize;
  return { offset, length: Math.min(chunkSize, size - offset) };
}

export function warningsFor(role: Role): string[] {
  const w = ROLE_WARNINGS[role];
  return w ? [w, CRASH_CONSISTENT] : [];
}

/** The manifest of a disk just read: the one place publish and capture build it. */
export function buildManifest(o: {
  name: string;
  description: string | undefined;
  role: Role;
  created: Date;
  source: { size: number; sectorSize: number; format: string; path: string | undefined };
  partitionTable: Manifest['partitionTable'];
  chunkSize: number;
  chunks: (string | null)[];
  totals: Manifest['totals'];
  sha256: string;
  partitions: PartitionUse[];
  minTargetBytes: number;
}): Manifest {
  return {
    format: 'netrestore-image',
    version: FORMAT_VERSION,
    name: o.name,
    description: o.description ?? '',
    created: o.created.toISOString(),
    role: o.role,
    warnings: warningsFor(o.role),
    source: { size: o.source.size, logicalSectorSize: o.source.sectorSize, ...(o.source.path ? { path: o.source.path } : {}), format: o.source.format },
    partitionTable: o.partitionTable,
    partitions: o.partitions,
    minTargetBytes: o.minTargetBytes,
    chunkSize: o.chunkSize,
    chunks: o.chunks,
    totals: o.totals,
    sha256: o.sha256,
  };
}
