/**
 * The console's form fields, one zod schema each, and the sentence a person
 * reads when a field does not fit. A form that does not fit changes nothing:
 * the page comes back with the message and what was typed.
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../shared/format.ts';
import { parseMac } from '../state/hosts.ts';

const text = (label: string, max: number) =>
  z
    .string({ error: `${label} is missing` })
    .max(max, `${label} is too long: at most ${max} characters`)
    .transform((v) => v.trim());

export const macField = z.string({ error: 'MAC address is missing' }).transform((v, ctx) => {
  if (!v.trim()) {
    ctx.addIssue({ code: 'custom', message: 'MAC address is empty: type the host\'s MAC address, like 52:54:00:12:34:56' });
    return z.NEVER;
  }
  const mac = parseMac(v.trim());
  if (!mac) ctx.addIssue({ code: 'custom', message: `MAC address "${v.slice(0, 40)}" is not a MAC address: type six pairs of hex digits, like 52:54:00:12:34:56` });
  return mac ?? z.NEVER;
});

export const imageField = z
  .string({ error: 'Image is missing: choose an image' })
  .min(1, 'Image is empty: choose an image')
  .max(100, 'Image name is too long: at most 100 characters')
  .regex(NAME_PATTERN, 'Image name may hold letters, digits, dot, dash and underscore, starting with a letter or digit');

export const hostFields = z.object({
  name: text('Name', 200),
  notes: text('Notes', 4000).optional().default(''),
  ignore: z.literal('on').optional(),
});

export const addHostForm = hostFields.extend({ mac: macField });

export const taskForm = z.object({
  kind: z.enum(['restore', 'capture'], { error: 'Choose restore or capture' }),
  image: imageField,
  disk: z.string().max(200, 'Disk is too long: at most 200 characters').regex(/^(\/dev\/[A-Za-z0-9._/-]+)?$/, 'Disk is a device path like /dev/sda, or empty for the agent to choose').optional().default(''),
  confirm: z.string().optional(),
});

export const deleteForm = z.object({ confirm: z.string().max(200).optional().default('') });

export const drillForm = z.object({
  image: imageField,
  firmware: z.enum(['bios', 'uefi'], { error: 'Firmware is bios or uefi' }).optional().default('bios'),
});

const optional = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === '' || v === undefined ? undefined : v), s.optional());

export const historyFilter = z.object({
  host: optional(macField),
  image: optional(imageField),
  result: optional(z.enum(['done', 'failed'], { error: 'Result is done or failed' })),
});

/** Parse a form; the data, or the first field's sentence. */
export function parseForm<S extends z.ZodType>(schema: S, body: unknown): { ok: true; data: z.output<S> } | { ok: false; error: string } {
  const r = schema.safeParse(body ?? {});
  if (r.success) return { ok: true, data: r.data };
  return { ok: false, error: r.error.issues[0]?.message ?? 'the form does not fit' };
}
