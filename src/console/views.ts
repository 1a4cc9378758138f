/**
 * The console's HTML: Handlebars templates under templates/ (pages and
 * partials), in a Handlebars instance of their own with its default HTML
 * escaping. Every page goes into layout.hbs.
 */
import Handlebars from 'handlebars';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../shared/progress.ts';

const DIR = join(import.meta.dirname, 'templates');

/** "3 min", "1 h 05 min", "40 s". Pure. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A moment as the admin reads it: UTC, to the second. Pure. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export class Views {
  readonly #hb = Handlebars.create();
  readonly #pages = new Map<string, Handlebars.TemplateDelegate>();

  constructor() {
    const hb = this.#hb;
    hb.registerHelper('bytes', (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? formatBytes(n) : '–'));
    // Milliseconds (the state database) or an ISO date (manifests).
    hb.registerHelper('when', (t: unknown) => when(typeof t === 'number' ? t : typeof t === 'string' && !Number.isNaN(Date.parse(t)) ? Date.parse(t) : null));
    hb.registerHelper('duration', (s: unknown) => duration(typeof s === 'number' ? s : null));
    hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    hb.registerHelper('or', (a: unknown, b: unknown) => a || b);
    hb.registerHelper('pct', (done: unknown, total: unknown) => (typeof done === 'number' && typeof total === 'number' && total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 0));
    for (const f of readdirSync(join(DIR, 'partials'))) {
      if (f.endsWith('.hbs')) hb.registerPartial(f.slice(0, -4), readFileSync(join(DIR, 'partials', f), 'utf8'));
    }
    for (const f of readdirSync(DIR)) {
      if (f.endsWith('.hbs')) this.#pages.set(f.slice(0, -4), hb.compile(readFileSync(join(DIR, f), 'utf8'), { strict: false }));
    }
  }

  /** One template alone (a partial page update, the live region). */
  fragment(name: string, context: object): string {
    const t = this.#hb.partials[name];
    const compiled = typeof t === 'function' ? t : this.#hb.compile(String(t));
    return compiled(context);
  }

  /** A whole page: the page's template inside the layout. */
  page(name: string, context: { title: string } & Record<string, unknown>): string {
    const body = this.#pages.get(name);
    if (!body) throw new Error(`no console template ${name}`);
    return this.#pages.get('layout')!({ ...context, body: new Handlebars.SafeString(body(context)) });
  }
}
