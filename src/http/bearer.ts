import type { Request } from 'express';

/** The token of an `Authorization: Bearer TOKEN` header, if there is one. */
export function bearerToken(req: Request): string | undefined {
  return /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
}
