/**
 * iPXE scripts from Handlebars templates (src/menus/templates, or a folder of
 * the admin's own copies). Values that are free text go through `t`, which
 * keeps them from being read as iPXE syntax (settings, operators, new lines).
 */
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type TemplateName = 'menu' | 'environment' | 'message' | 'chain';

/** Printable ASCII without $ { } | & ; — the characters iPXE would interpret. */
export function ipxeText(v: unknown): string {
  return String(v ?? '')
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/[${}|&;]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

const BUILTIN = join(import.meta.dirname, 'templates');

export class Renderer {
  readonly #compiled = new Map<TemplateName, Handlebars.TemplateDelegate>();
  readonly #hb = Handlebars.create();
  readonly #dirs: string[];

  /** `overrides`: a folder whose NAME.ipxe.hbs files replace the built-in ones. */
  constructor(overrides?: string) {
    this.#dirs = overrides ? [overrides, BUILTIN] : [BUILTIN];
    this.#hb.registerHelper('t', ipxeText);
  }

  render(name: TemplateName, context: object): string {
    let tpl = this.#compiled.get(name);
    if (!tpl) {
      const file = this.#dirs.map((d) => join(d, `${name}.ipxe.hbs`)).find((f) => existsSync(f))!;
      tpl = this.#hb.compile(readFileSync(file, 'utf8'), { noEscape: true, strict: false });
      this.#compiled.set(name, tpl);
    }
    return tpl(context);
  }
}
