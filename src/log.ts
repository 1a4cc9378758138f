/**
 * Structured logs: one line per event. JSON lines when the output is not a
 * terminal (for journald and log shippers), `time LEVEL event key=value` on a
 * terminal. Tests pass a memory sink and read the events back.
 *
 * No secret reaches a sink: every event goes through `redact` here, whatever
 * the call site wrote (log-redact.ts says what is taken out).
 */
import { Redactor } from './log-redact.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogEvent {
  time: string;
  level: Level;
  event: string;
  [key: string]: unknown;
}

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  /**
   * A secret this service knows (the admin token, the menu password, a
   * session token it minted): from now on it is replaced wherever it would
   * appear in an event, under any field name. `minted`: one of many tokens
   * this service made (base64url), looked up in a bounded set.
   */
  secret(value: string, minted?: boolean): void;
}

export type Sink = (e: LogEvent) => void;

/** A logger whose level a reload (SIGHUP) may change; the secrets it knows stay. */
export interface LevelledLogger extends Logger {
  setLevel(level: Level): void;
}

export function createLogger(sink: Sink, minLevel: Level = 'info'): LevelledLogger {
  const redactor = new Redactor();
  const at = (level: Level) => (event: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] < RANK[minLevel]) return;
    sink({ time: new Date().toISOString(), level, event, ...redactor.fields(fields) });
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    secret: (v, minted) => redactor.add(v, minted),
    setLevel: (level) => void (minLevel = level),
  };
}

function humanValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** One human-readable line: `17:55:01 INFO  dhcp.reply mac=52:54:00:… type=OFFER`. */
export function formatHuman(e: LogEvent): string {
  const { time, level, event, ...rest } = e;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${humanValue(v)}`)
    .join(' ');
  return `${time.slice(11, 19)} ${level.toUpperCase().padEnd(5)} ${event}${fields ? ' ' + fields : ''}`;
}

/** Human lines on a terminal, JSON lines otherwise (journald keeps stdout). */
export function streamSink(stream: NodeJS.WriteStream): Sink {
  const human = stream.isTTY === true;
  return (e) => {
    const line = human ? formatHuman(e) : JSON.stringify(e, (_k, v) => (v instanceof Error ? v.message : v));
    stream.write(line + '\n');
  };
}
