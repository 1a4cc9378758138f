/**
 * Scripts and pages from Handlebars templates, safe by default: every
 * `{{value}}` goes through the renderer's escaper, whatever the template
 * author remembered. A raw insertion is explicit, `{{{raw value}}}`, and
 * any other triple-stash is refused when the template is compiled, so each
 * raw use can be found with grep and reviewed (each carries a comment).
 *
 * `createRenderer({ escape, ... })` is the mechanism; iPXE scripts (this
 * folder's templates, `Renderer`) use `ipxeText`, a GRUB config would use
 * `grubText` and an HTML page `htmlText`.
 *
 * How: the template is parsed, and each escaped mustache `{{x}}` (helpers
 * and all) is rewritten to `{{__escape x}}` before compiling. `__escape`
 * returns the escaped text marked safe, so Handlebars' own HTML escaping
 * (wrong for scripts) never applies on top.
 */
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';

export type Escaper = (value: string) => string;

/**
 * Text iPXE reads as text. iPXE has no quoting, so what it would interpret
 * goes: `$ { }` (setting expansion `${…}`), `| & ;` (the `||`, `&&` and `;`
 * command separators), `\` (a line ending in one continues on the next),
 * `#` (a comment), new lines and every other control or non-ASCII
 * character (a new command); runs of spaces become one (an argument
 * boundary stays a boundary, nothing more), and a leading `:` (a label).
 */
export function ipxeText(v: unknown): string {
  return String(v ?? '')
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/[${}|&;\\#]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/^[\s:]+/, '')
    .trimEnd();
}

/**
 * Text for inside a GRUB double-quoted word ("…"): `\`, `"`, `$` and the
 * backquote are escaped with a backslash; control characters (a new line
 * ends the command) become spaces.
 */
export function grubText(v: unknown): string {
  return String(v ?? '')
    .replace(/[\x00-\x1f\x7f]/g, ' ')
    .replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** Text for HTML element content and quoted attribute values. */
export function htmlText(v: unknown): string {
  return String(v ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface RendererOptions {
  /** Applied to every `{{value}}`. */
  escape: Escaper;
  /** Folders holding NAME + extension, searched in order (an admin's copies first). */
  dirs: string[];
  /** File name ending, e.g. `.ipxe.hbs`. */
  extension: string;
  /** More helpers; their results are escaped like any value unless used as `{{{raw (helper …)}}}`. */
  helpers?: Record<string, Handlebars.HelperDelegate>;
}

export interface TemplateRenderer<Name extends string = string> {
  render(name: Name, context: object): string;
  /** A template given as text (tests, and checking an admin's copy). */
  renderSource(source: string, context: object, what?: string): string;
}

const ESCAPE = '__escape';

export function createRenderer<Name extends string = string>(o: RendererOptions): TemplateRenderer<Name> {
  const hb = Handlebars.create();
  for (const [name, helper] of Object.entries(o.helpers ?? {})) hb.registerHelper(name, helper);
  const safe = (s: string) => new hb.SafeString(s);
  hb.registerHelper(ESCAPE, (v: unknown) => safe(o.escape(v === undefined || v === null ? '' : String(v))));
  // The one way to insert a value as it is: {{{raw value}}}.
  hb.registerHelper('raw', (v: unknown) => (v === undefined || v === null ? '' : String(v)));

  const compile = (source: string, what: string) => {
    const ast = hb.parse(source);
    rewrite(ast, (name) => name in hb.helpers, what);
    return hb.compile(ast, { strict: false });
  };
  const compiled = new Map<string, Handlebars.TemplateDelegate>();
  return {
    render(name, context) {
      let tpl = compiled.get(name);
      if (!tpl) {
        const file = o.dirs.map((d) => join(d, `${name}${o.extension}`)).find((f) => existsSync(f));
        if (!file) throw new NetrestoreError('CONFIG_INVALID', `no template ${name}${o.extension} in ${o.dirs.join(', ')}`);
        tpl = compile(readFileSync(file, 'utf8'), file);
        compiled.set(name, tpl);
      }
      return tpl(context);
    },
    renderSource: (source, context, what = 'template') => compile(source, what)(context),
  };
}

type Node = hbs.AST.Node & Record<string, unknown>;

/** Each escaped mustache becomes `{{__escape …}}`; a triple-stash must be `{{{raw …}}}`. */
function rewrite(node: hbs.AST.Node, isHelper: (name: string) => boolean, what: string): void {
  const n = node as Node;
  if (n.type === 'MustacheStatement') {
    const m = node as hbs.AST.MustacheStatement;
    const path = m.path as hbs.AST.PathExpression;
    if (!m.escaped) {
      if (path.type !== 'PathExpression' || path.original !== 'raw' || m.params.length !== 1) {
        const line = m.loc?.start.line;
        throw new NetrestoreError('CONFIG_INVALID', `${what}${line ? ` line ${line}` : ''}: a raw insertion must be written {{{raw value}}} (and say why in a comment); write {{value}} to have it escaped`);
      }
      return;
    }
    const called = m.params.length > 0 || (m.hash?.pairs.length ?? 0) > 0 || (path.type === 'PathExpression' && !path.data && path.parts.length === 1 && isHelper(path.original));
    const inner: hbs.AST.Expression = called ? ({ type: 'SubExpression', path: m.path, params: m.params, hash: m.hash, loc: m.loc } as hbs.AST.SubExpression) : m.path;
    const escapePath = { type: 'PathExpression', data: false, depth: 0, parts: [ESCAPE], original: ESCAPE, loc: m.loc } as hbs.AST.PathExpression;
    Object.assign(m, { path: escapePath, params: [inner], hash: undefined });
    return;
  }
  for (const key of ['body', 'program', 'inverse'] as const) {
    const child = n[key];
    if (Array.isArray(child)) for (const c of child) rewrite(c as hbs.AST.Node, isHelper, what);
    else if (child && typeof child === 'object') rewrite(child as hbs.AST.Node, isHelper, what);
  }
}

export type TemplateName = 'menu' | 'environment' | 'message' | 'chain';

const BUILTIN = join(import.meta.dirname, 'templates');

/** The iPXE scripts: this folder's templates, or an admin's copies of them (`overrides`), escaped for iPXE. */
export class Renderer {
  readonly #r: TemplateRenderer<TemplateName>;

  /** `overrides`: a folder whose NAME.ipxe.hbs files replace the built-in ones. */
  constructor(overrides?: string) {
    this.#r = createRenderer<TemplateName>({
      escape: ipxeText,
      dirs: overrides ? [overrides, BUILTIN] : [BUILTIN],
      extension: '.ipxe.hbs',
      // `t` was the explicit escape before escaping was the default: kept for admins' copies (escaping twice changes nothing).
      helpers: { t: (v: unknown) => ipxeText(v) },
    });
  }

  render(name: TemplateName, context: object): string {
    return this.#r.render(name, context);
  }
}
