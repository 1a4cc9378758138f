/**
 * What the logger takes out of every event before it reaches a sink, so that
 * no call site has to remember it:
 *
 *   - a field whose name says it holds a secret (password, token, secret,
 *     authorization, cookie, credential, api key): its whole value;
 *   - in any text: the password segment of a TFTP login path
 *     (`auth/MAC/MODE/IMAGE/USER/PASSWORD.ipxe`), `password=…`, `token=…`
 *     and `secret=…` values (queries, `netrestore.token=` on a kernel command
 *     line), `Bearer …` and `Basic …` credentials, `"password": "…"` in JSON;
 *   - every secret the service registered (admin token, menu password, the
 *     session tokens it minted), wherever it appears, raw or URI-encoded.
 */

export const REDACTED = '[redacted]';

const SECRET_KEY = /passw|passphrase|token|secret|authori[sz]ation|cookie|credential|api[-_]?key|private[-_]?key/i;
/** Runs of the characters a minted token is made of (base64url). */
const TOKEN_RUN = /[A-Za-z0-9_-]{16,}/g;
const MAX_MINTED = 10_000;
const MAX_DEPTH = 8;

/** iPXE's `:uristring` form: everything but unreserved characters percent-encoded. */
const uriStrict = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The TFTP login path: keep MAC, mode, image and user; the password segment goes. */
function redactLoginPath(s: string): string {
  if (!/auth\//i.test(s)) return s;
  return s
    .replace(/(\bauth\/(?:[^/\s]*\/){4})[^/\s]*?(\.ipxe\b|(?=\s|$))/gi, `$1${REDACTED}$2`)
    // A login path with a segment missing or added: from the fourth segment on, all of it.
    .replace(/(\bauth\/(?:[^/\s]*\/){3})(?!(?:[^/\s]*\/)?\[redacted\])[^\s]+/gi, `$1${REDACTED}`);
}

function redactPatterns(s: string): string {
  return redactLoginPath(s)
    .replace(/([\w.-]*(?:passw(?:or)?d|pass|token|secret)=)[^&\s#"']*/gi, `$1${REDACTED}`)
    .replace(/(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`)
    .replace(/("[\w.-]*(?:passw(?:or)?d|token|secret)"\s*:\s*")(?:[^"\\]|\\.)*"/gi, `$1${REDACTED}"`);
}

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%[0-9a-f]{2}/gi, (e) => String.fromCharCode(parseInt(e.slice(1), 16)));
  }
};

export class Redactor {
  /** Secrets with any characters (a few, chosen by the admin): found as substrings. */
  readonly #given = new Set<string>();
  /** Minted tokens (many): found as whole runs of token characters, in O(length). */
  readonly #minted = new Set<string>();

  /** `minted`: a token this service made (base64url, one of many): looked up by whole runs, not searched for. */
  add(secret: string, minted = false): void {
    if (secret.length < 6) return; // too short to be a real secret; replacing it would eat ordinary words
    if (minted && /^[A-Za-z0-9_-]{16,}$/.test(secret)) {
      this.#minted.add(secret);
      if (this.#minted.size > MAX_MINTED) this.#minted.delete(this.#minted.values().next().value!);
      return;
    }
    for (const form of new Set([secret, encodeURIComponent(secret), uriStrict(secret)])) this.#given.add(form);
  }

  text(s: string): string {
    let out = s;
    for (const secret of this.#given) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    // Encoded some other way (partly, or with lower-case hex): the decoded text, with the secret out.
    const decoded = this.#given.size ? safeDecode(out) : out;
    if (decoded !== out && [...this.#given].some((secret) => decoded.includes(secret))) {
      out = decoded;
      for (const secret of this.#given) out = out.split(secret).join(REDACTED);
    }
    if (this.#minted.size) out = out.replace(TOKEN_RUN, (run) => (this.#minted.has(run) ? REDACTED : run));
    return redactPatterns(out);
  }

  value(v: unknown, depth = 0): unknown {
    if (typeof v === 'string') return this.text(v);
    if (v instanceof Error) return this.text(v.message);
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (Array.isArray(v)) return v.map((x) => this.value(x, depth + 1));
    if (v instanceof Date) return v.toISOString();
    if (Buffer.isBuffer(v)) return `[${v.length} bytes]`;
    return this.fields(v as Record<string, unknown>, depth + 1);
  }

  fields(f: Record<string, unknown>, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(f)) out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : this.value(v, depth);
    return out;
  }
}
