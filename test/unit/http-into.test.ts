/**
 * The chunk reader that lets the socket read into the restore's own buffers,
 * against a node:http server on loopback: bodies land whole in the caller's
 * buffer, connections are kept and reused, a connection the server dropped
 * while idle costs nothing, and a reply it cannot take is named (and the
 * client then asks node:http instead).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { HttpInto, IntoError, parseHead } from '../../src/restore-agent/http-into.ts';

const BODY = randomBytes(300_000);
let server: http.Server;
let base: URL;
let connections = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/body' || req.url === `/api/chunks/${'a'.repeat(64)}`) return void res.end(BODY);
    if (req.url === '/chunked' || req.url === `/api/chunks/${'c'.repeat(64)}`) {
      res.write(BODY.subarray(0, 1000));
      return void res.end(BODY.subarray(1000));
    }
    if (req.url === '/close') return void res.writeHead(200, { connection: 'close', 'content-length': 3 }).end('bye');
    if (req.url === '/empty') return void res.writeHead(204).end();
    const json = JSON.stringify({ error: 'no such thing' });
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': json.length }).end(json);
  });
  server.keepAliveTimeout = 100;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(() => server.close());

describe('HttpInto', () => {
  it('reads a body into the given buffer and keeps the connection for the next one', async () => {
    const into = new HttpInto(base);
    const buf = Buffer.alloc(400_000);
    const before = connections;
    for (let i = 0; i < 3; i++) {
      const r = await into.get('/body', {}, buf);
      expect(r.status).toBe(200);
      expect(r.body.buffer).toBe(buf.buffer);
      expect(r.body.equals(BODY)).toBe(true);
    }
    expect(connections - before).toBe(1);
    const empty = await into.get('/empty', {}, buf);
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
    into.close();
  });

  it('carries on when the server closed the idle connection, or said it would', async () => {
    const into = new HttpInto(base);
    const buf = Buffer.alloc(400_000);
    expect((await into.get('/body', {}, buf)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // past the server's keep-alive timeout
    expect((await into.get('/body', {}, buf)).body.equals(BODY)).toBe(true);
    expect((await into.get('/close', {}, buf)).body.toString()).toBe('bye');
    expect((await into.get('/body', {}, buf)).body.equals(BODY)).toBe(true);
    into.close();
  });

  it('gives an error status and its body like any other reply', async () => {
    const into = new HttpInto(base);
    const r = await into.get('/nope', {}, Buffer.alloc(1024));
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString())).toEqual({ error: 'no such thing' });
    into.close();
  });

  it('names a reply too large for the buffer, and a chunked one', async () => {
    const into = new HttpInto(base);
    await expect(into.get('/body', {}, Buffer.alloc(1000))).rejects.toMatchObject({ name: 'IntoError', code: 'ETOOBIG' });
    await expect(into.get('/chunked', {}, Buffer.alloc(400_000))).rejects.toThrow(IntoError);
    await expect(into.get('/chunked', {}, Buffer.alloc(400_000))).rejects.toThrow(/a chunked reply, where a Content-Length was expected/);
    into.close();
  });

  it('fails with the socket error when nothing listens', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await expect(new HttpInto(new URL(`http://127.0.0.1:${port}`)).get('/', {}, Buffer.alloc(10))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('ImagesClient.chunk', () => {
  it('reads a chunk into the buffer, and a reply of another shape through node:http', async () => {
    const client = new ImagesClient({ server: base.href, token: undefined });
    const buf = Buffer.alloc(400_000);
    const direct = await client.chunk('a'.repeat(64), buf);
    expect(direct.buffer).toBe(buf.buffer);
    expect(direct.equals(BODY)).toBe(true);
    const fallback = await client.chunk('c'.repeat(64), buf);
    expect(fallback.buffer).not.toBe(buf.buffer);
    expect(fallback.equals(BODY)).toBe(true);
  });
});

describe('parseHead', () => {
  it('takes a status, a Content-Length and Connection: close', () => {
    expect(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive')).toEqual({ status: 200, length: 12, close: false });
    expect(parseHead('HTTP/1.1 404 Not Found\r\ncontent-length:0\r\nconnection: Close')).toEqual({ status: 404, length: 0, close: true });
    expect(parseHead('HTTP/1.0 200 OK\r\nContent-Length: 3')).toEqual({ status: 200, length: 3, close: true });
  });

  it('says why it refuses a head', () => {
    expect(parseHead('SSH-2.0-OpenSSH')).toMatch(/^not an HTTP\/1.1 reply/);
    expect(parseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked')).toBe('a chunked reply, where a Content-Length was expected');
    expect(parseHead('HTTP/1.1 200 OK')).toBe('a reply without a valid Content-Length');
    expect(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 1e3')).toBe('a reply without a valid Content-Length');
  });
});
