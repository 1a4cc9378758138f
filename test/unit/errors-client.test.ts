/** The agent's client turns the server's refusals into coded errors. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImagesClient } from '../../src/restore-agent/client.ts';

const replies: Record<string, [number, unknown]> = {
  '/api/images/coded': [409, { error: 'an image named coded exists already', code: 'IMAGE_EXISTS' }],
  '/api/images/missing': [404, { error: 'no image named missing' }],
  '/api/images/odd': [418, { error: 'short and stout', code: 'NOT_A_CODE' }],
  '/api/images/token': [401, { error: 'bad token' }],
};
let server: http.Server;
let client: ImagesClient;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const [status, body] = replies[req.url ?? ''] ?? [404, 'not json'];
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new ImagesClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', retryForMs: 0 });
});
afterAll(() => void server.close());

describe('ImagesClient errors', () => {
  it.each([
    ['coded', 'IMAGE_EXISTS', /^image coded: an image named coded exists already$/],
    ['missing', 'IMAGE_NOT_FOUND', /^image missing: no image named missing$/],
    ['odd', 'SERVER_ERROR', /^image odd: short and stout$/],
    ['token', 'TOKEN_REFUSED', /refused the token \(bad token\): pass the admin token/],
    ['other', 'SERVER_ERROR', /^image other: HTTP 404$/],
  ])('%s: %s', async (name, code, message) => {
    const err = await client.manifest(name).catch((e: unknown) => e);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  });
});
