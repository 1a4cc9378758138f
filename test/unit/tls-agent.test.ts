/**
 * The agent's certificate pinning, against a bare TLS server that records
 * every byte it receives: with the wrong fingerprint the client stops with
 * TLS_FINGERPRINT and the server has received nothing (no request line, no
 * token); with the right one the request arrives. And the spelling of
 * fingerprints on the kernel command line and after --fingerprint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoTls, type TlsMaterial } from '../../src/http/tls.ts';
import { kernelCmdline } from '../../src/menus/boot-plan.ts';
import { ImagesClient } from '../../src/restore-agent/client.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import { isNetrestoreError } from '../../src/shared/errors.ts';
import { formatFingerprint, parseFingerprint } from '../../src/shared/fingerprint.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-tls-agent-'));
let material: TlsMaterial;
let server: tls.Server;
let base: string;
let received = '';

beforeAll(async () => {
  material = await autoTls(join(dir, 'state.db'), '127.0.0.1');
  server = tls.createServer({ cert: material.cert, key: material.key }, (s) => {
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n')) s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return isNetrestoreError(err) ? err.code : String(err);
  }
};

describe('pinning the server certificate', () => {
  it('sends nothing to a server whose certificate has another fingerprint', async () => {
    received = '';
    const client = new ImagesClient({ server: base, token: 'secret-session-token', fingerprint: `sha256:${'0'.repeat(64)}`, retryForMs: 0 });
    expect(await codeOf(client.catalog())).toBe('TLS_FINGERPRINT');
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe('');
  });

  it('talks to the one with the fingerprint given, in any spelling', async () => {
    const colons = material.fingerprint.slice('sha256:'.length).toUpperCase().match(/../g)!.join(':');
    for (const fingerprint of [material.fingerprint, colons]) {
      received = '';
      const client = new ImagesClient({ server: base, token: 'secret-session-token', fingerprint, retryForMs: 0 });
      expect(await client.catalog()).toEqual([]);
      expect(received).toMatch(/^GET \/api\/images HTTP\/1\.1\r\n/);
      expect(received).toContain('authorization: Bearer secret-session-token');
    }
  });

  it('without a fingerprint, stops at a certificate no CA vouches for', async () => {
    received = '';
    expect(await codeOf(new ImagesClient({ server: base, token: 't', retryForMs: 0 }).catalog())).toBe('TLS_UNTRUSTED');
    expect(received).toBe('');
  });

  it('takes a fingerprint for https:// only, and only a SHA-256 one', () => {
    expect(() => new ImagesClient({ server: 'http://127.0.0.1:1', token: 't', fingerprint: material.fingerprint })).toThrow(/https/);
    expect(() => new ImagesClient({ server: base, token: 't', fingerprint: 'sha1:abcd' })).toThrow(/not a SHA-256 fingerprint/);
  });
});

describe('fingerprints on the kernel command line', () => {
  const hex = 'ab'.repeat(32);
  it('reads sha256:HEX and the colon-separated form, and nothing else', () => {
    expect(parseFingerprint(`sha256:${hex}`)).toBe(hex);
    expect(parseFingerprint(`SHA256:${hex.toUpperCase().match(/../g)!.join(':')}`)).toBe(hex);
    expect(parseFingerprint(hex.slice(2))).toBeUndefined();
    expect(parseFingerprint(`md5:${hex}`)).toBeUndefined();
    expect(formatFingerprint(hex.toUpperCase())).toBe(`sha256:${hex}`);
  });

  it('goes from the boot plan to the agent unchanged', () => {
    const line = kernelCmdline({ server: { base: 'https://10.0.0.1:8443', token: 'tok', tls: `sha256:${hex}` }, mode: 'restore', image: 'web' });
    expect(line).toContain(`netrestore.server=https://10.0.0.1:8443 netrestore.tls=sha256:${hex} netrestore.token=tok`);
    expect(parseCmdline(line)).toMatchObject({ server: 'https://10.0.0.1:8443', fingerprint: `sha256:${hex}`, token: 'tok' });
    expect(kernelCmdline({ server: { base: 'http://10.0.0.1', token: 'tok' }, mode: 'restore' })).not.toContain('netrestore.tls');
  });

  it('refuses a fingerprint beside a plain http:// server, or a mangled one', () => {
    const code = (text: string) => {
      try {
        parseCmdline(text);
        return 'no error';
      } catch (err) {
        return isNetrestoreError(err) ? err.code : String(err);
      }
    };
    expect(code(`netrestore.server=http://10.0.0.1 netrestore.tls=sha256:${hex}`)).toBe('CMDLINE_INVALID');
    expect(code('netrestore.server=https://10.0.0.1 netrestore.tls=sha256:1234')).toBe('CMDLINE_INVALID');
  });
});
