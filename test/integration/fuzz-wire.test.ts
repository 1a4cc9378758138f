/**
 * Thousands of malformed packets at the running service's DHCP, PXE and
 * TFTP ports; afterwards it must still be up and answer good requests.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Arch } from '../../src/dhcp/client-info.ts';
import { decode, encode } from '../../src/dhcp/packet.ts';
import { encode as tftpEncode } from '../../src/tftp/packet.ts';
import { request } from '../helpers/dhcp.ts';
import { mutate, rng } from '../helpers/mutate.ts';
import { readPcapUdp } from '../helpers/pcap.ts';
import { startServe, type Served } from '../../src/drill/service.ts';

const DHCP = 16767;
const PXE = 16711;
const TFTP = 16902;
const dir = mkdtempSync(join(tmpdir(), 'nr-fuzz-'));
const payload = randomBytes(300_000);
let served: Served;
let sock: dgram.Socket;

beforeAll(async () => {
  writeFileSync(join(dir, 'undionly.kpxe'), payload);
  served = await startServe(['--dhcp', 'proxy', '--interface', 'lo', '--server-ip', '127.0.0.1', '--dhcp-port', String(DHCP), '--proxy-port', String(PXE), '--tftp-port', String(TFTP), '--listen', '127.0.0.1', '--http-port', 'off', '--boot-dir', dir, '--state', join(dir, 'state.db')]);
  await served.waitFor('dhcp.listening');
  sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
});
afterAll(async () => {
  sock?.close();
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const send = (b: Buffer, port: number) => new Promise<void>((r) => sock.send(b, port, '127.0.0.1', () => r()));

describe('the running service under malformed traffic', () => {
  it('stays up through 15,000 mutated packets and then answers a PXE client and a TFTP client', async () => {
    const FIXTURES = join(import.meta.dirname, '../fixtures/dhcp');
    const seeds = readdirSync(FIXTURES).filter((f) => f.endsWith('.pcap')).flatMap((f) => readPcapUdp(join(FIXTURES, f)).map((x) => x.payload));
    const tftpSeeds = [tftpEncode({ op: 'RRQ', filename: 'undionly.kpxe', mode: 'octet', options: { blksize: '1468', windowsize: '4' } }), tftpEncode({ op: 'ACK', block: 1 })];
    const r = rng(99);
    for (let i = 0; i < 5_000; i++) {
      await send(mutate(seeds[i % seeds.length]!, r), DHCP);
      await send(mutate(seeds[(i + 1) % seeds.length]!, r), PXE);
      await send(mutate(tftpSeeds[i % 2]!, r), TFTP);
    }

    // A good PXE boot-server request: the reply comes back to us on this socket.
    // (Mutations that stayed valid were answered too: wait for ours by its xid.)
    const reply = new Promise<Buffer>((resolve) => sock.on('message', (m, rinfo) => rinfo.port === PXE && m.length > 8 && m.readUInt32BE(4) === 0xfeedbeef && resolve(m)));
    // Resent every half second, as a PXE ROM does, in case the burst filled the socket's buffer.
    const good = encode(request({ type: 'REQUEST', arch: Arch.BIOS, ciaddr: '127.0.0.1', xid: 0xfeedbeef }));
    const resend = setInterval(() => void send(good, PXE), 500);
    await send(good, PXE);
    const ack = decode(await reply.finally(() => clearInterval(resend)));
    expect(ack.xid).toBe(0xfeedbeef);
    expect(ack.file).toBe('undionly.kpxe');

    await execa('curl', ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${TFTP}/undionly.kpxe`, '-o', join(dir, 'got')]);
    expect(readFileSync(join(dir, 'got')).equals(payload)).toBe(true);
    expect(() => process.kill(served.proc.pid!, 0)).not.toThrow(); // still running
  });
});
