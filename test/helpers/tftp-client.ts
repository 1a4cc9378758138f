/**
 * A small TFTP read client for tests that need what real clients will not
 * do on purpose: lose DATA packets, repeat ACKs, or go silent.
 */
import dgram from 'node:dgram';
import { decode, encode } from '../../src/tftp/packet.ts';

export interface LossyOptions {
  options?: Record<string, string>;
  /** Drop this DATA packet (by arrival count) instead of handling it. */
  dropData?: (n: number) => boolean;
  /** Send every ACK this many times. */
  ackCopies?: number;
  timeoutMs?: number;
  /** Keep counting DATA packets this long after the last block. */
  lingerMs?: number;
}

export async function lossyGet(port: number, file: string, o: LossyOptions = {}): Promise<{ data: Buffer; dataPackets: number; oack?: Record<string, string> }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const blksize = Number(o.options?.blksize ?? 512);
  const windowsize = Number(o.options?.windowsize ?? 1);
  const parts: Buffer[] = [];
  let expected = 1;
  let arrivals = 0;
  let oack: Record<string, string> | undefined;
  let inWindow = 0;
  try {
    return await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`transfer of ${file} did not finish`)), o.timeoutMs ?? 30_000);
      const ack = (block: number, port_: number) => {
        for (let i = 0; i < (o.ackCopies ?? 1); i++) sock.send(encode({ op: 'ACK', block: block & 0xffff }), port_, '127.0.0.1');
      };
      sock.on('message', (msg, rinfo) => {
        const p = decode(msg);
        if (p.op === 'ERROR') {
          clearTimeout(deadline);
          reject(new Error(`TFTP error ${p.code}: ${p.message}`));
        } else if (p.op === 'OACK') {
          oack = p.options;
          ack(0, rinfo.port);
        } else if (p.op === 'DATA') {
          arrivals++;
          if (o.dropData?.(arrivals)) return;
          if (p.block === (expected & 0xffff)) {
            parts.push(Buffer.from(p.data));
            expected++;
            inWindow++;
            const last = p.data.length < blksize;
            if (last || inWindow === windowsize) {
              inWindow = 0;
              ack(expected - 1, rinfo.port);
            }
            if (last) {
              clearTimeout(deadline);
              // Linger so that any needless duplicate the server sends is counted too.
              setTimeout(() => resolve({ data: Buffer.concat(parts), dataPackets: arrivals, ...(oack ? { oack } : {}) }), o.lingerMs ?? 0);
            }
          } else {
            // Out of order (a lost block before it): tell the server what we have (RFC 7440 §4).
            inWindow = 0;
            ack(expected - 1, rinfo.port);
          }
        }
      });
      sock.send(encode({ op: 'RRQ', filename: file, mode: 'octet', options: o.options ?? {} }), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}
