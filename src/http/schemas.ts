/** The shapes of request input (path parameters, queries, bodies), one zod schema each. */
import { z } from 'zod';
import { NAME_PATTERN } from '../shared/format.ts';
import { parseMac } from '../state/hosts.ts';
import { parseSince } from '../state/audit.ts';

export const macParam = z.string().transform((v, ctx) => {
  const mac = parseMac(v);
  if (!mac) ctx.addIssue({ code: 'custom', message: `${v} is not a MAC address (like 52:54:00:12:34:56)` });
  return mac ?? z.NEVER;
});
export const imageName = z.string().regex(NAME_PATTERN, 'not an image name (letters, digits, . _ -; at most 100)');
export const chunkHash = z.string().regex(/^[0-9a-f]{64}$/, 'not a chunk hash (64 hex digits)');
export const taskId = z.coerce.number().int().positive();
const limit = (max: number) => z.coerce.number().int().min(1).max(max);

export const hostBody = z
  .object({
    name: z.string().max(200).nullable().optional(),
    notes: z.string().max(4000).nullable().optional(),
    ignore: z.boolean().optional(),
    menuTimeout: z.number().int().min(1, 'menuTimeout takes whole seconds from 1 to 3600').max(3600, 'menuTimeout takes whole seconds from 1 to 3600').optional(),
    /** The chain on UEFI x64 PXE; "default": the server's (--uefi-boot) again. */
    uefiBoot: z.enum(['shim', 'ipxe', 'default']).optional(),
  })
  .strict();

export const taskBody = z
  .object({
    kind: z.enum(['restore', 'capture']),
    image: imageName,
    disk: z.string().min(1).optional(),
  })
  .strict();

/** What a booted agent reports about its task. */
export const taskReport = z.object({
  state: z.enum(['started', 'done', 'failed']),
  error: z.string().optional(),
  bytes: z.number().int().nonnegative().optional(),
});

/** Progress is best effort: any field may be missing, and a rate over no time is null. */
const num = z.number().nullable().optional();
export const progressBody = z.object({
  mode: z.string().optional(),
  image: z.string().optional(),
  task: z.number().nullable().optional(),
  phase: z.string().optional(),
  done: num,
  total: num,
  rate: num,
});
export type ProgressReport = z.output<typeof progressBody>;

export const missingBody = z.object({ hashes: z.array(chunkHash).max(1_000_000) });

export const historyQuery = z.object({ limit: limit(1000).optional() }).strict();

export const sinceValue = z.string().transform((v, ctx) => {
  const t = parseSince(v);
  if (t === undefined) ctx.addIssue({ code: 'custom', message: `${v} is neither a duration back from now (30m, 12h, 7d) nor a date (2026-12-01, 2026-12-01T08:00:00Z)` });
  return t ?? z.NEVER;
});

export const auditQuery = z
  .object({
    host: macParam.optional(),
    image: imageName.optional(),
    since: sinceValue.optional(),
    limit: limit(10_000).optional(),
  })
  .strict();

/** iPXE asks these: a value it cannot read counts as absent, so the machine still gets a script. */
const loose = z.string().optional().catch(undefined);
export const bootQuery = z.object({ mac: loose }).transform((q) => ({ mac: parseMac(q.mac) }));
export const loginQuery = z
  .object({ mac: loose, mode: loose, image: loose, username: loose, password: loose })
  .transform((q) => ({ mac: parseMac(q.mac), mode: q.mode ?? '', image: q.image ?? '', username: q.username ?? '', password: q.password ?? '' }));
