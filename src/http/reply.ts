/**
 * How the API answers a failure: a status and JSON `{ error, code }`, where
 * `error` is a sentence for the admin and `code` a stable word for scripts.
 * Request input goes through a zod schema (`input`); what does not fit
 * answers 400 and never reaches a handler as a cast.
 */
import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { isNetrestoreError, NetrestoreError, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../log.ts';

export type ApiCode = ErrorCode | 'BAD_JSON' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'TOO_LARGE' | 'TOO_MANY_LOGINS' | 'BUSY' | 'INTERNAL';

const CODE_OF_STATUS: Record<number, ApiCode> = { 400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT', 413: 'TOO_LARGE', 503: 'BUSY' };

export function fail(res: Response, status: number, error: string, code: ApiCode = CODE_OF_STATUS[status] ?? 'INTERNAL'): Response {
  return res.status(status).json({ error, code });
}

/** Parse request input with a schema; what does not fit throws BAD_REQUEST (answered 400). */
export function input<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const where = first.path.length ? `${what}.${first.path.join('.')}` : what;
  throw new NetrestoreError('BAD_REQUEST', `${where}: ${first.message}`);
}

/** Status of a coded error a handler throws; other codes are the server's fault (500). */
const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = { BAD_REQUEST: 400, IMAGE_NAME: 400, DISK_PATH: 400, HOST_NAME: 400, IMAGE_NOT_FOUND: 404 };

/** The last middleware: malformed JSON, a body too large and bad input are the client's (4xx); the rest is logged and answers 500. */
export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const parser = (err as { type?: string } | undefined)?.type;
    if (parser === 'entity.parse.failed') return void fail(res, 400, `the body is not valid JSON: ${(err as Error).message}`, 'BAD_JSON');
    if (parser === 'entity.too.large') return void fail(res, 413, 'the body is too large', 'TOO_LARGE');
    if (parser !== undefined && typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      return void fail(res, (err as { status: number }).status, (err as Error).message, 'BAD_REQUEST');
    }
    // The router's own client errors (a % escape that does not decode in a path parameter), and a handler's decodeURIComponent.
    const own = (err as { status?: unknown; statusCode?: unknown } | undefined)?.status ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
    if (typeof own === 'number' && own >= 400 && own < 500 && !res.headersSent) return void fail(res, own, (err as Error).message, CODE_OF_STATUS[own] ?? 'BAD_REQUEST');
    if (err instanceof URIError && !res.headersSent) return void fail(res, 400, `the path has a % escape that does not decode: ${err.message}`, 'BAD_REQUEST');
    const status = isNetrestoreError(err) ? STATUS_OF_CODE[err.code] ?? 500 : 500;
    if (status >= 500) log.error('http.error', { method: req.method, path: req.path, reason: (err as Error)?.message ?? String(err) });
    if (!res.headersSent) fail(res, status, (err as Error)?.message ?? String(err), isNetrestoreError(err) ? err.code : 'INTERNAL');
  };
}
