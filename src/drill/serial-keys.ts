/**
 * Driving a machine over its serial console as a person at its keyboard
 * would: read the screen, wait for a prompt, press keys. Everything learned
 * about that lives here, for the drills and the tests alike:
 *
 * - the screen is what a person reads: colours vanish and a cursor move
 *   starts a new line (iPXE and the agent draw lines in place), so a line
 *   drawn reads as one line of text, and a prompt followed by "\n" is a
 *   prompt whose input is empty;
 * - keys are the bytes a VT100 terminal sends: arrows are ESC [ A/B, Home
 *   ESC [ H (iPXE's menu knows all three), Enter is CR;
 * - a key is sent in one write (iPXE reads ESC and then waits a moment for
 *   the rest of a sequence), keys a little apart, as typed;
 * - iPXE's login form shows both fields at once, filled in with what was
 *   typed the time before: each field is emptied (End, Ctrl-U) and typed,
 *   Enter moves from the user name to the password, Enter submits;
 * - every wait starts where the last one matched, so text that was on the
 *   screen before (a prompt of the previous round) never answers a wait.
 */
import type { Readable, Writable } from 'node:stream';

export const KEY = {
  enter: '\r',
  up: '\x1b[A',
  down: '\x1b[B',
  home: '\x1b[H',
  end: '\x1b[F',
  /** Ctrl-U: iPXE's edit box deletes to the start of the field; the agent's prompts start over. Not Ctrl-A: qemu's monitor escape. */
  clearLine: '\x15',
  tab: '\t',
  backspace: '\x7f',
} as const;

/** A person typing `text`: one key per character. */
export const typed = (text: string): string[] => [...text];

/** A field that may hold text already (iPXE fills its login form in with the last attempt): emptied, then typed. */
export const retype = (text: string): string[] => [KEY.end, KEY.clearLine, ...typed(text)];

/** iPXE's `login` form, both fields at once: user name, Enter moves to the password field, Enter submits. */
export const loginForm = (user: string, password: string): string[] => [...retype(user), KEY.enter, ...retype(password), KEY.enter];

/** The escapes that change colours or save the cursor vanish; a cursor move or an erase reads as a new line. */
const clean = (s: string) => s.replace(/\x1b\[[0-9;?]*m|\x1b[c78]|\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n');

/**
 * What a person reads of raw terminal output, fed as it arrives. Append-only
 * (what was read once never changes, so a place in the text stays valid): an
 * escape cut in two by a read waits for its end, and blank lines are kept to
 * one however they arrive.
 */
export class ScreenText {
  #text = '';
  #pending = '';
  feed(chunk: string): void {
    let s = this.#pending + chunk;
    const esc = s.lastIndexOf('\x1b');
    // An escape cut short at the end of a read: keep it for the next.
    this.#pending = esc >= 0 && /^\x1b(\[[0-9;?]*)?$/.test(s.slice(esc)) ? s.slice(esc) : '';
    if (this.#pending) s = s.slice(0, esc);
    for (const c of clean(s)) {
      if (c === '\n' && this.#text.endsWith('\n\n')) continue;
      this.#text += c;
    }
  }
  get text(): string {
    return this.#text;
  }
}

/** The whole of `raw` as a person reads it. */
export function screenText(raw: string): string {
  const t = new ScreenText();
  t.feed(raw);
  return t.text;
}

/** The serial line of a machine: what it printed so far, and its keyboard. */
export class SerialLine {
  readonly #screen = new ScreenText();
  #closed = false;
  #waiters: (() => void)[] = [];
  readonly #keyboard: Writable | undefined;

  constructor(outputs: Readable[], keyboard?: Writable) {
    this.#keyboard = keyboard;
    let open = outputs.length;
    for (const out of outputs) {
      out.on('data', (d: Buffer) => {
        this.#screen.feed(d.toString('latin1'));
        this.#wake();
      });
      out.on('close', () => {
        if (--open === 0) this.close();
      });
    }
    // A keyboard whose reader has gone (qemu exited) must not crash the drill.
    keyboard?.on('error', () => undefined);
  }

  /** Everything the screen showed, as a person reads it. */
  text(): string {
    return this.#screen.text;
  }

  /** The machine is gone: waits end. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /**
   * The first match of `pattern` in the screen after offset `from`; its
   * `index` counts from the start of the screen text.
   */
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the console never showed ${pattern} in ${Math.round(timeoutMs / 1000)} s:\n${this.text().slice(Math.max(from, this.text().length - 3000))}`)), timeoutMs);
      const check = () => {
        const m = pattern.exec(this.text().slice(from));
        if (m) {
          clearTimeout(t);
          m.index += from;
          resolve(m);
        } else if (this.#closed) {
          clearTimeout(t);
          reject(new Error(`the machine stopped before its console showed ${pattern}:\n${this.text().slice(Math.max(from, this.text().length - 3000))}`));
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Press keys, one write each, `gapMs` apart. */
  async press(keys: readonly string[], gapMs = 40): Promise<void> {
    if (!this.#keyboard) throw new Error('this console has no keyboard');
    for (const k of keys) {
      if (this.#closed) return;
      this.#keyboard.write(k);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }
}

/**
 * One thing a person does: wait until the screen shows `screen`, then press
 * `keys` (which may read the match: a disk name shown on the screen).
 */
export interface TypedStep<W extends string = string> {
  name: string;
  /** Why the step exists, for a person reading the table. */
  does: string;
  screen: RegExp;
  keys: readonly string[] | ((m: RegExpExecArray) => readonly string[]);
  /** How long this screen may take: a key's answer, a boot, or a long job. */
  wait: W;
}

const NAMES: Record<string, string> = { [KEY.enter]: 'Enter', [KEY.up]: 'Up', [KEY.down]: 'Down', [KEY.home]: 'Home', [KEY.end]: 'End', [KEY.clearLine]: 'Ctrl-U', [KEY.tab]: 'Tab', [KEY.backspace]: 'Backspace' };

/** Keys as a person would name them: `vda <Enter>`; `secrets` show as <hidden>. */
export function describeKeys(keys: readonly string[], secrets: string[] = []): string {
  let out = '';
  for (const k of keys) out += NAMES[k] ? ` <${NAMES[k]}> ` : k;
  for (const s of secrets) if (s) out = out.split(s).join('<hidden>');
  return out.replace(/ {2,}/g, ' ').trim() || 'no keys';
}

/** A step that did not see its screen: its name and what the screen showed instead. */
export class StepScreenError extends Error {
  readonly step: string;
  readonly screen: string;
  constructor(step: TypedStep, why: string, screen: string) {
    super(`step ${step.name} (${step.does}): ${why}; the screen showed:\n${screen}`);
    this.step = step.name;
    this.screen = screen;
  }
}

/** Carries the place on the screen from one step to the next. */
export class Typist {
  #from = 0;
  readonly #line: SerialLine;
  constructor(line: SerialLine, from = 0) {
    this.#line = line;
    this.#from = from;
  }

  /** Wait for the step's screen, press its keys; the screen since the last step in the error when it never comes. */
  async step<W extends string>(s: TypedStep<W>, timeoutMs: number): Promise<{ match: RegExpExecArray; keys: readonly string[] }> {
    const from = this.#from;
    const seen = (to = Infinity) => {
      const t = this.#line.text().slice(from, to);
      return t.length > 3000 ? `…${t.slice(-3000)}` : t;
    };
    let m: RegExpExecArray;
    try {
      m = await this.#line.waitFor(s.screen, timeoutMs, from);
    } catch {
      const why = this.#line.closed ? 'the machine stopped first' : `not in ${Math.round(timeoutMs / 1000)} s`;
      throw new StepScreenError(s, `waited for ${s.screen}, ${why}`, seen());
    }
    this.#from = m.index + m[0].length;
    let keys: readonly string[];
    try {
      keys = typeof s.keys === 'function' ? s.keys(m) : s.keys;
    } catch (err) {
      throw new StepScreenError(s, `saw ${s.screen}, but ${(err as Error).message}`, seen(this.#from));
    }
    await this.#line.press(keys);
    return { match: m, keys };
  }
}
