/**
 * GRUB configurations from Handlebars templates (src/menus/templates/*.grub.hbs,
 * or the admin's own copies beside the iPXE ones), for machines that boot
 * the signed chain (shim → GRUB). GRUB quotes like a shell, not like iPXE:
 * every text in the context is made one single-quoted word before the
 * template sees it, so a template cannot forget to quote (Handlebars' own
 * escaping is global to the library, shared with the iPXE renderer, and
 * so is left alone). Quoted words join like shell words: `/{{kernel}}`
 * is the path /vmlinuz.
 */
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type GrubTemplateName = 'grub-menu' | 'grub-environment' | 'grub-message' | 'grub-chain';

/** Every non-empty string in `v` as a GRUB word; empty strings stay empty, so `{{#if x}}` still tests them. */
export function quoteAll(v: unknown): unknown {
  if (typeof v === 'string') return v === '' ? v : grubWord(v);
  if (Array.isArray(v)) return v.map(quoteAll);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, quoteAll(x)]));
  return v;
}

/**
 * One GRUB word that reads as the text itself: inside single quotes nothing
 * is special ($, ;, spaces, braces) except the quote, closed, escaped and
 * reopened. Control characters (a new line would end the command) become spaces.
 */
export function grubWord(v: unknown): string {
  const text = String(v ?? '').replace(/[\x00-\x1f\x7f]/g, ' ');
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const BUILTIN = join(import.meta.dirname, 'templates');

export class GrubRenderer {
  readonly #compiled = new Map<GrubTemplateName, Handlebars.TemplateDelegate>();
  readonly #hb = Handlebars.create();
  readonly #dirs: string[];

  /** `overrides`: a folder whose NAME.grub.hbs files replace the built-in ones. */
  constructor(overrides?: string) {
    this.#dirs = overrides ? [overrides, BUILTIN] : [BUILTIN];
  }

  render(name: GrubTemplateName, context: object): string {
    let tpl = this.#compiled.get(name);
    if (!tpl) {
      const file = this.#dirs.map((d) => join(d, `${name.replace(/^grub-/, '')}.grub.hbs`)).find((f) => existsSync(f))!;
      tpl = this.#hb.compile(readFileSync(file, 'utf8'), { noEscape: true, strict: false });
      this.#compiled.set(name, tpl);
    }
    return tpl(quoteAll(context));
  }
}
