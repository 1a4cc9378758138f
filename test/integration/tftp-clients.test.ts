/**
 * The TFTP server, run through the real CLI on loopback, against real clients
 * from Debian: tftp-hpa, atftp and curl.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/tftp/packet.ts';
import { startServe, type Served } from '../../src/drill/service.ts';
import { lossyGet } from '../helpers/tftp-client.ts';

const PORT = 16901;
const dir = mkdtempSync(join(tmpdir(), 'nr-tftp-'));
const boot = join(dir, 'boot');
const out = join(dir, 'out');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const files: Record<string, Buffer> = {
  'empty.bin': Buffer.alloc(0),
  'exact-512.bin': randomBytes(512 * 64),
  'exact-1468.bin': randomBytes(1468 * 100),
  'one-mb.bin': randomBytes(1_000_000),
  'big-40mb.bin': randomBytes(40_000_000),
};

let served: Served;
beforeAll(async () => {
  await execa('mkdir', ['-p', boot, out]);
  chmodSync(dir, 0o755);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(boot, name), data);
  writeFileSync(join(boot, 'menu.txt'), 'line one\nline two\r\nend\n');
  served = await startServe(['--dhcp', 'off', '--http-port', 'off', '--tftp-port', String(PORT), '--listen', '127.0.0.1', '--boot-dir', boot, '--state', join(dir, 'state.db'), '--log-level', 'debug']);
  await served.waitFor('tftp.listening');
});
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const got = (name: string) => sha(readFileSync(join(out, name)));
const done = (file: string, match: (e: Record<string, unknown>) => boolean = () => true) => served.waitFor('tftp.done', (e) => e.file === file && match(e));

describe('tftp-hpa client', () => {
  const hpa = (args: string) => execa('tftp', ['127.0.0.1', String(PORT), '-m', 'binary', '-c', ...args.split(' ')], { cwd: out, all: true, reject: false });

  for (const name of ['empty.bin', 'exact-512.bin', 'exact-1468.bin', 'one-mb.bin']) {
    it(`gets ${name} intact`, async () => {
      const r = await hpa(`get ${name}`);
      expect(r.all).toBe('');
      expect(got(name)).toBe(sha(files[name]!));
    });
  }

  it('gets 40 MB at blksize 512, past the block-number rollover', async () => {
    const r = await hpa('get big-40mb.bin');
    expect(r.all).toBe('');
    expect(got('big-40mb.bin')).toBe(sha(files['big-40mb.bin']!));
    expect(await done('big-40mb.bin', (e) => e.blksize === 512)).toMatchObject({ bytes: 40_000_000 });
  });

  it('gets a text file in netascii mode', async () => {
    const r = await execa('tftp', ['127.0.0.1', String(PORT), '-m', 'netascii', '-c', 'get', 'menu.txt', 'menu-ascii.txt'], { cwd: out, all: true });
    expect(r.all).toBe('');
    expect(readFileSync(join(out, 'menu-ascii.txt'), 'latin1')).toBe('line one\nline two\r\nend\n');
  });

  it('reads a leading / as the boot directory, as GRUB asks (/grub/grub.cfg, /vmlinuz); never the server\'s root', async () => {
    const r = await execa('tftp', ['127.0.0.1', String(PORT), '-m', 'netascii', '-c', 'get', '/menu.txt', 'menu-slash.txt'], { cwd: out, all: true });
    expect(r.all).toBe('');
    expect(readFileSync(join(out, 'menu-slash.txt'), 'latin1')).toBe('line one\nline two\r\nend\n');
    expect((await hpa('get /etc/passwd')).all).toMatch(/Error code 1: file not found/i);
    expect((await hpa('get /../etc/passwd')).all).toMatch(/Error code 2/);
  });

  it('learns at once that a file is missing (error 1), a path leaves the root (2), or it tried to write (2)', async () => {
    const t0 = performance.now();
    expect((await hpa('get missing.efi')).all).toMatch(/Error code 1: file not found/i);
    expect((await hpa('get ../etc/passwd')).all).toMatch(/Error code 2/);
    writeFileSync(join(out, 'upload.bin'), 'x');
    expect((await hpa('put upload.bin')).all).toMatch(/Error code 2: this server is read-only/);
    expect(performance.now() - t0).toBeLessThan(2000); // tftp-hpa's own timeout is 5 s per try
  });
});

describe('atftp client', () => {
  const atftp = (name: string, opts: string[]) =>
    execa('atftp', [...opts.flatMap((o) => ['--option', o]), '-g', '-r', name, '-l', join(out, `atftp-${name}`), '127.0.0.1', String(PORT)], { all: true });

  for (const opts of [['blksize 1468'], ['tsize 0'], ['windowsize 16'], ['blksize 1468', 'windowsize 16', 'tsize 0']]) {
    for (const name of ['empty.bin', 'exact-1468.bin', 'one-mb.bin']) {
      it(`gets ${name} with ${opts.join(', ')}`, async () => {
        await atftp(name, opts);
        expect(sha(readFileSync(join(out, `atftp-${name}`)))).toBe(sha(files[name]!));
      });
    }
  }

  it('gets 40 MB with blksize 1468 and windowsize 16', async () => {
    await atftp('big-40mb.bin', ['blksize 1468', 'windowsize 16']);
    expect(sha(readFileSync(join(out, 'atftp-big-40mb.bin')))).toBe(sha(files['big-40mb.bin']!));
    expect(await done('big-40mb.bin', (e) => e.windowsize === 16)).toMatchObject({ blksize: 1468 });
  });
});

describe('curl client', () => {
  const curl = (name: string, extra: string[] = []) => execa('curl', ['-sS', ...extra, `tftp://127.0.0.1:${PORT}/${name}`, '-o', join(out, `curl-${name}`)], { all: true, reject: false });

  // Not empty.bin: curl 7.88 fails every 0-byte TFTP download with error 71
  // ("getpeername() failed"), from tftpd-hpa just the same; tftp-hpa and atftp cover it.
  for (const name of ['exact-512.bin', 'exact-1468.bin', 'one-mb.bin', 'big-40mb.bin']) {
    it(`gets ${name} with --tftp-blksize 1468`, async () => {
      const r = await curl(name, ['--tftp-blksize', '1468']);
      expect(r.exitCode, r.all).toBe(0);
      expect(sha(readFileSync(join(out, `curl-${name}`)))).toBe(sha(files[name]!));
    });
  }

  it('reports a missing file as curl error 68 (TFTP file not found)', async () => {
    expect((await curl('nothing-here')).exitCode).toBe(68);
  });

  it('serves 40 clients at once, each its own intact copy', async () => {
    const runs = await Promise.all(Array.from({ length: 40 }, (_, i) => execa('curl', ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${PORT}/one-mb.bin`, '-o', join(out, `many-${i}`)], { reject: false })));
    expect(runs.map((r) => r.exitCode)).toEqual(Array(40).fill(0));
    for (let i = 0; i < 40; i++) expect(sha(readFileSync(join(out, `many-${i}`)))).toBe(sha(files['one-mb.bin']!));
  });
});

describe('loss, duplicates and abandoned transfers', () => {
  it('recovers lost DATA packets by retransmission (lock-step and windowed)', async () => {
    const a = await lossyGet(PORT, 'one-mb.bin', { options: { blksize: '1468', timeout: '1' }, dropData: (n) => n % 97 === 0 });
    expect(sha(a.data)).toBe(sha(files['one-mb.bin']!));
    const b = await lossyGet(PORT, 'one-mb.bin', { options: { blksize: '1468', windowsize: '8', timeout: '1' }, dropData: (n) => n % 53 === 0 });
    expect(sha(b.data)).toBe(sha(files['one-mb.bin']!));
  });

  it('does not send a block twice because an ACK came twice', async () => {
    const r = await lossyGet(PORT, 'exact-1468.bin', { options: { blksize: '1468' }, ackCopies: 3, lingerMs: 1500 });
    expect(sha(r.data)).toBe(sha(files['exact-1468.bin']!));
    expect(r.dataPackets).toBe(101); // 100 full blocks and the empty last one, each sent once
  });

  it('gives up on a client that stops answering and frees the transfer', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    sock.send(encode({ op: 'RRQ', filename: 'one-mb.bin', mode: 'octet', options: { timeout: '1' } }), PORT, '127.0.0.1');
    const failed = await served.waitFor('tftp.failed', (e) => e.client === `127.0.0.1:${sock.address().port}`, 15_000);
    sock.close();
    expect(failed.reason).toMatch(/no acknowledgement after 5 retransmissions/);
  });
});
