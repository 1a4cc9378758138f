/**
 * The service under real signals, spawned as a process as systemd would:
 * SIGHUP takes the new menu title and names what needs a restart; SIGTERM
 * lets a running HTTP download and a running TFTP transfer finish, refuses
 * new ones, and exits 0; with a short stopTimeout it names what it cut.
 */
import { execa, type ResultPromise } from 'execa';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { decode, encode } from '../../src/tftp/packet.ts';

// Ports of this file alone (other tests use 18181 and friends).
const HTTP = 28461;
const TFTP = 28462;
const BIG = 8 * 1024 * 1024;

interface Service {
  proc: ResultPromise<{ reject: false; buffer: false; stdin: 'ignore' }>;
  events: Record<string, unknown>[];
  dir: string;
  config: string;
  waitFor(event: string, ms?: number): Promise<Record<string, unknown>>;
}

const running: Service[] = [];
afterEach(() => {
  for (const s of running.splice(0)) {
    s.proc.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

async function start(extra: Record<string, unknown> = {}): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'nr-svc-sig-'));
  const boot = join(dir, 'boot');
  mkdirSync(boot);
  writeFileSync(join(boot, 'big.bin'), Buffer.alloc(BIG, 7));
  writeFileSync(join(boot, 'small.bin'), Buffer.alloc(100 * 512 + 17, 3));
  const config = join(dir, 'config.json');
  const base = { listen: '127.0.0.1', dhcp: 'off', httpPort: HTTP, tftpPort: TFTP, bootDir: boot, images: join(dir, 'images'), state: join(dir, 'state.db'), adminToken: 'signal-test-token-1', menuTitle: 'Before reload', ...extra };
  writeFileSync(config, JSON.stringify(base));
  const proc = execa(BIN, ['serve', '--config', config], { reject: false, buffer: false, stdin: 'ignore' });
  const events: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let rest = '';
  proc.stdout!.on('data', (b: Buffer) => {
    rest += b.toString();
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l.startsWith('{')) events.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async (event: string, ms = 20_000) => {
    const until = Date.now() + ms;
    for (;;) {
      const e = events.find((x) => x.event === event);
      if (e) return e;
      if (Date.now() > until) throw new Error(`no ${event} in ${JSON.stringify(events.map((x) => x.event))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  const s: Service = { proc, events, dir, config, waitFor };
  running.push(s);
  await waitFor('tftp.listening');
  await waitFor('http.listening');
  return s;
}

/** The real signal, as systemd sends it (execa's own kill would add a SIGKILL after 5 s). */
function signal(s: Service, sig: NodeJS.Signals): void {
  process.kill(s.proc.pid!, sig);
}

async function exited(s: Service): Promise<string> {
  const r = await s.proc;
  return `exit ${r.exitCode} signal ${r.signal}`;
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: HTTP, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject).end();
  });
}

/** A download that reads nothing until told: the server's writes wait on the socket. */
function pausedDownload(path: string): Promise<{ res: IncomingMessage; bytes: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: HTTP, path }, (res) => {
      res.pause();
      resolve({
        res,
        bytes: () =>
          new Promise((r) => {
            let n = 0;
            res.on('data', (d: Buffer) => (n += d.length));
            res.on('end', () => r(n));
            res.on('close', () => r(n));
            res.resume();
          }),
      });
    }).on('error', reject).end();
  });
}

/** A TFTP read that ACKs each block after `delayMs`: 101 blocks take a few seconds. */
function slowTftp(file: string, delayMs: number, onFirst: () => void): Promise<number> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    let got = 0;
    let first = true;
    const timer = setTimeout(() => reject(new Error(`slow transfer stalled at ${got} bytes`)), 60_000);
    sock.on('message', (msg, rinfo) => {
      const p = decode(msg);
      if (p.op === 'ERROR') return reject(new Error(p.message));
      if (p.op !== 'DATA') return;
      got += p.data.length;
      if (first) {
        first = false;
        onFirst();
      }
      setTimeout(() => {
        sock.send(encode({ op: 'ACK', block: p.block }), rinfo.port, '127.0.0.1', () => {
          if (p.data.length < 512) {
            clearTimeout(timer);
            sock.close();
            resolve(got);
          }
        });
      }, delayMs);
    });
    sock.bind(0, '127.0.0.1', () => sock.send(encode({ op: 'RRQ', filename: file, mode: 'octet', options: {} }), TFTP, '127.0.0.1'));
  });
}

/** Whether a new TFTP request gets any answer within `ms`. */
function tftpAnswers(file: string, ms: number): Promise<boolean> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      sock.close();
      resolve(v);
    };
    const t = setTimeout(() => done(false), ms);
    sock.on('message', () => (clearTimeout(t), done(true)));
    sock.on('error', () => (clearTimeout(t), done(false)));
    sock.bind(0, '127.0.0.1', () => sock.send(encode({ op: 'RRQ', filename: file, mode: 'octet', options: {} }), TFTP, '127.0.0.1'));
  });
}

describe('the service and its signals', () => {
  it('SIGHUP: takes the new menu title and log level, names the keys that need a restart, keeps serving', async () => {
    const s = await start();
    const mac = '52:54:00:aa:bb:01';
    expect((await get(`/boot.ipxe?mac=${mac}`)).body).toContain('Before reload');
    writeFileSync(s.config, JSON.stringify({ listen: '127.0.0.1', dhcp: 'off', httpPort: HTTP, tftpPort: TFTP + 100, bootDir: join(s.dir, 'boot'), images: join(s.dir, 'images'), state: join(s.dir, 'state.db'), adminToken: 'signal-test-token-1', menuTitle: 'After reload', logLevel: 'debug' }));
    signal(s, 'SIGHUP');
    const reloaded = await s.waitFor('serve.reloaded');
    expect(reloaded.applied).toEqual(['logLevel', 'menuTitle']);
    expect(reloaded.needsRestart).toEqual(['tftpPort']);
    const restart = await s.waitFor('serve.restart-needed');
    expect(restart.keys).toEqual(['tftpPort']);
    expect((await get(`/boot.ipxe?mac=${mac}`)).body).toContain('After reload');
    // debug is on now: every request is logged.
    await get('/boot.ipxe?mac=52:54:00:aa:bb:02');
    await s.waitFor('http.request');
    // TFTP still on its old port.
    expect(await tftpAnswers('small.bin', 2000)).toBe(true);

    // A configuration that does not validate changes nothing.
    writeFileSync(s.config, JSON.stringify({ menuTimeout: -1 }));
    signal(s, 'SIGHUP');
    const failed = await s.waitFor('serve.reload-failed');
    expect(String(failed.reason)).toMatch(/menuTimeout/);
    expect((await get(`/boot.ipxe?mac=${mac}`)).body).toContain('After reload');
    signal(s, 'SIGTERM');
    expect(await exited(s)).toBe('exit 0 signal undefined');
  }, 60_000);

  it('SIGTERM: a running HTTP download and TFTP transfer finish, new requests are refused, exit 0', async () => {
    const s = await start();
    const dl = await pausedDownload('/boot/big.bin');
    let tftpStarted!: () => void;
    const started = new Promise<void>((r) => (tftpStarted = r));
    const tftp = slowTftp('small.bin', 15, tftpStarted);
    await started;
    signal(s, 'SIGTERM');
    await s.waitFor('serve.stopping');
    // No new work: the TFTP port is closed, HTTP refuses connections.
    expect(await tftpAnswers('small.bin', 1500)).toBe(false);
    await expect(get('/boot.ipxe')).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(await dl.bytes()).toBe(BIG);
    expect(await tftp).toBe(100 * 512 + 17);
    expect(await exited(s)).toBe('exit 0 signal undefined');
    expect(s.events.some((e) => e.event === 'serve.stopped')).toBe(true);
    expect(s.events.some((e) => e.event === 'serve.cut')).toBe(false);
    expect(s.events.filter((e) => e.event === 'tftp.done').map((e) => e.file), JSON.stringify(s.events)).toEqual(['small.bin']);
  }, 90_000);

  it('SIGTERM with stopTimeout 1: names the transfers it cut, exits 0', async () => {
    const s = await start({ stopTimeout: 1 });
    const dl = await pausedDownload('/boot/big.bin');
    signal(s, 'SIGTERM');
    const cut = await s.waitFor('serve.cut');
    expect(cut.transfers).toEqual(['GET /boot/big.bin']);
    expect(await exited(s)).toBe('exit 0 signal undefined');
    expect(await dl.bytes()).toBeLessThan(BIG);
  }, 60_000);
});
