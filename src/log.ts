/**
 * Structured logs: one line per event. JSON lines when the output is not a
 * terminal (for journald and log shippers), `time LEVEL event key=value` on a
 * terminal. Tests pass a memory sink and read the events back.
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';
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
}

export type Sink = (e: LogEvent) => void;

export function createLogger(sink: Sink, minLevel: Level = 'info'): Logger {
  const at = (level: Level) => (event: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] < RANK[minLevel]) return;
    sink({ time: new Date().toISOString(), level, event, ...fields });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
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

export function streamSink(stream: NodeJS.WriteStream): Sink {
  const human = stream.isTTY === true;
  return (e) => {
    const safe = human ? formatHuman(e) : JSON.stringify(e, (_k, v) => (v instanceof Error ? v.message : v));
    stream.write(safe + '\n');
  };
}
