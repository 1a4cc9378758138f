/**
 * The TFTP edge: a listening socket for requests, and one socket on a fresh
 * port per transfer (RFC 1350 §4, transfer identifiers). Each transfer is the
 * pure state machine in transfer.ts driven by packets and one timer; blocks
 * are read from the provider in large chunks, so memory per transfer is
 * bounded and the disk is not asked once per block.
 */
import dgram from 'node:dgram';
import { bindError, isNetrestoreError } from '../shared/errors.ts';
import type { Logger } from '../log.ts';
import type { TftpHooks } from '../metrics/hooks.ts';
import { BusyPoll, DEFAULT_BUSY_POLL_MS } from './busy-poll.ts';
import { DEFAULT_LIMITS, negotiate, type Limits } from './negotiate.ts';
import { dataHeader, decode, encode, ErrorCode, type ReadRequest, type TftpPacket } from './packet.ts';
import { netasciiFile, type FileProvider, type OpenFile } from './provider.ts';
import { onAck, onClientError, onTimeout, start, type Action, type TransferState } from './transfer.ts';

export interface TftpServerOptions {
  listen: string;
  port: number;
  provider: FileProvider;
  log: Logger;
  limits?: Limits;
  /** Retransmissions before a silent client is given up. */
  maxTries?: number;
  /** Transfers at once; more get "server busy" at once instead of a slow death for all. */
  maxTransfers?: number;
  /** Milliseconds to keep polling for an ACK after each send instead of sleeping (busy-poll.ts); 0: off. */
  busyPollMs?: number;
  /** Counters (metrics/hooks.ts). */
  hooks?: TftpHooks;
}

export interface TftpServer {
  port: number;
  /** Transfers in progress (for tests and status). */
  active(): number;
  close(): Promise<void>;
  /** Stop taking requests, wait up to `ms` for running transfers; the ones still running (file to client). Then close() is not needed. */
  drain(ms: number): Promise<string[]>;
}

const READ_CHUNK = 1 << 20;

/**
 * Reads the file in chunks of about 1 MiB aligned to the block size, and
 * hands out blocks synchronously while they are in the current chunk: the
 * ACK → DATA path then costs no promise, only a send.
 */
class BlockReader {
  #start = 0;
  #data: Buffer = Buffer.alloc(0);
  readonly #chunk: number;
  readonly #file: OpenFile;
  readonly #blksize: number;
  constructor(file: OpenFile, blksize: number, windowsize: number) {
    this.#file = file;
    this.#blksize = blksize;
    this.#chunk = Math.max(blksize * windowsize, Math.floor(READ_CHUNK / blksize) * blksize);
  }

  #span(abs: number): [number, number] {
    const offset = (abs - 1) * this.#blksize;
    return [offset, Math.max(0, Math.min(this.#blksize, this.#file.size - offset))];
  }

  /** The block if it is in memory, else undefined (call load first). */
  cached(abs: number): Buffer | undefined {
    const [offset, length] = this.#span(abs);
    if (length === 0) return EMPTY;
    if (offset < this.#start || offset + length > this.#start + this.#data.length) return undefined;
    return this.#data.subarray(offset - this.#start, offset - this.#start + length);
  }

  async load(abs: number): Promise<void> {
    const [offset, length] = this.#span(abs);
    this.#start = offset;
    this.#data = await this.#file.read(offset, Math.min(this.#chunk, this.#file.size - offset));
    if (this.#data.length < length) throw new Error(`short read at offset ${offset}: the file shrank during the transfer`);
  }
}

const EMPTY = Buffer.alloc(0);

function errorPacket(code: number, message: string): Buffer {
  return encode({ op: 'ERROR', code, message });
}

export async function startTftpServer(o: TftpServerOptions): Promise<TftpServer> {
  const limits = o.limits ?? DEFAULT_LIMITS;
  const maxTries = o.maxTries ?? 5;
  const maxTransfers = o.maxTransfers ?? 2000;
  const transfers = new Map<string, string>(); // client → file
  const poll = new BusyPoll(o.busyPollMs ?? DEFAULT_BUSY_POLL_MS);

  const main = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    main.once('error', (err) => reject(bindError(err, 'TFTP', o.listen, o.port, '--tftp-port')));
    main.bind(o.port, o.listen, () => {
      main.removeAllListeners('error');
      resolve();
    });
  });
  main.on('error', (err) => o.log.error('tftp.socket-error', { reason: err.message }));

  main.on('message', (msg, rinfo) => {
    const client = `${rinfo.address}:${rinfo.port}`;
    let p: TftpPacket;
    try {
      p = decode(msg);
    } catch (err) {
      o.log.debug('tftp.drop', { client, bytes: msg.length, reason: (err as Error).message });
      main.send(errorPacket(ErrorCode.IllegalOperation, 'malformed request'), rinfo.port, rinfo.address);
      return;
    }
    if (p.op === 'WRQ') {
      o.log.info('tftp.refused', { client, file: p.filename, reason: 'write request' });
      main.send(errorPacket(ErrorCode.AccessViolation, 'this server is read-only'), rinfo.port, rinfo.address);
      return;
    }
    if (p.op !== 'RRQ') {
      main.send(errorPacket(ErrorCode.IllegalOperation, `${p.op} is not a request`), rinfo.port, rinfo.address);
      return;
    }
    // A client that resends its RRQ (our OACK or first block was lost) is already being served.
    if (transfers.has(client)) return;
    if (transfers.size >= maxTransfers) {
      main.send(errorPacket(ErrorCode.NotDefined, 'server busy, try again'), rinfo.port, rinfo.address);
      return;
    }
    transfers.set(client, p.filename);
    serveRead(p, rinfo)
      .catch((err: Error) => o.log.warn('tftp.failed', { client, file: p.filename, reason: err.message }))
      .finally(() => transfers.delete(client));
  });

  async function serveRead(req: ReadRequest, peer: dgram.RemoteInfo): Promise<void> {
    const client = `${peer.address}:${peer.port}`;
    // A connected socket: the kernel keeps other senders out of this transfer
    // (as tftpd-hpa does) and each send skips the address lookup.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, o.listen, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    await new Promise<void>((resolve) => sock.connect(peer.port, peer.address, resolve));
    // ICMP "port unreachable" from a client that went away arrives as ECONNREFUSED:
    // the retransmission limit ends such a transfer; the error itself is only noted.
    sock.on('error', (err) => o.log.debug('tftp.socket-error', { client, reason: err.message }));
    // Data goes out without a callback (the hot path); the last packet of a
    // transfer, or an ERROR, is awaited so that closing the socket cannot drop it.
    let lastSent: Promise<void> = Promise.resolve();
    const sendRaw = (b: Buffer | Buffer[], wait = false) => {
      if (!wait) {
        sock.send(b);
        poll.kick(); // an ACK is due: wait for it awake
      } else lastSent = new Promise<void>((r) => sock.send(b, () => r()));
    };
    let file: OpenFile | undefined;
    try {
      if (req.mode !== 'octet' && req.mode !== 'netascii') {
        sendRaw(errorPacket(ErrorCode.IllegalOperation, `transfer mode ${req.mode} is not supported; use octet`), true);
        o.log.info('tftp.refused', { client, file: req.filename, reason: `mode ${req.mode}` });
        o.hooks?.transfer('refused', 0, peer.address);
        return;
      }
      try {
        // GRUB asks for /grub/grub.cfg and /vmlinuz: a leading / is the boot directory (as tftpd-hpa -s), never the server's root.
        file = await o.provider.open(req.filename.replace(/^\/+/, ''), { client: { address: peer.address, port: peer.port } });
        if (req.mode === 'netascii') file = await netasciiFile(file);
      } catch (err) {
        const known = isNetrestoreError(err, 'BOOT_FILE_DENIED') || isNetrestoreError(err, 'BOOT_FILE_NOT_FOUND');
        const code = isNetrestoreError(err, 'BOOT_FILE_DENIED') ? ErrorCode.AccessViolation : ErrorCode.FileNotFound;
        sendRaw(errorPacket(code, known ? (code === ErrorCode.AccessViolation ? 'access violation' : 'file not found') : 'cannot read file'), true);
        o.log.info('tftp.refused', { client, file: req.filename, reason: (err as Error).message });
        o.hooks?.transfer('refused', 0, peer.address);
        return;
      }
      await transfer(req, file, sock, sendRaw, client, peer.address);
    } finally {
      await file?.close().catch(() => {});
      await lastSent;
      sock.close();
    }
  }

  function transfer(req: ReadRequest, file: OpenFile, sock: dgram.Socket, sendRaw: (b: Buffer | Buffer[], wait?: boolean) => void, client: string, address: string): Promise<void> {
    const params = negotiate(req.options, file.size, limits);
    const reader = new BlockReader(file, params.blksize, params.windowsize);
    const started = performance.now();
    let [state, actions] = start({ blksize: params.blksize, windowsize: params.windowsize, size: file.size, withOack: params.oack !== null, maxTries });

    return new Promise<void>((resolve) => {
      let finished = false;
      // While a chunk is being read from disk, later events wait here in order.
      let loading = false;
      const backlog: (() => [TransferState, Action[]])[] = [];
      const timer = setTimeout(() => handle(() => onTimeout(state)), params.timeoutMs);

      const finish = (ok: boolean, reason?: string) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        const ms = performance.now() - started;
        const fields = { file: req.filename, client, bytes: file.size, blksize: params.blksize, windowsize: params.windowsize, ms: Math.round(ms), mbPerSec: Number((file.size / 1e6 / (ms / 1000)).toFixed(2)) };
        if (ok) o.log.info('tftp.done', fields);
        else o.log.warn('tftp.failed', { ...fields, reason });
        o.hooks?.transfer(ok ? 'done' : 'failed', ok ? file.size : 0, address);
        resolve();
      };

      const sendBlock = (abs: number, data: Buffer) => {
        const header = Buffer.allocUnsafe(4);
        dataHeader(header, abs);
        sendRaw([header, data]); // sendmsg with two iovecs: no copy of the block
      };

      /** Carry out actions; returns the index of a send that must wait for a disk read. */
      const execute = (list: Action[], from = 0): { at: number; abs: number } | undefined => {
        for (let i = from; i < list.length; i++) {
          const a = list[i]!;
          if (a.kind === 'send-oack') sendRaw(encode({ op: 'OACK', options: params.oack! }));
          else if (a.kind === 'send-data') {
            for (let abs = a.from; abs <= a.to; abs++) {
              const data = reader.cached(abs);
              if (!data) return { at: i, abs };
              sendBlock(abs, data);
            }
          } else if (a.kind === 'done') finish(true);
          else finish(false, a.reason);
        }
        if (!finished) timer.refresh();
        return undefined;
      };

      const runFrom = (list: Action[]) => {
        const wait = execute(list);
        if (!wait) return;
        loading = true;
        reader.load(wait.abs).then(
          () => {
            loading = false;
            const a = list[wait.at] as Extract<Action, { kind: 'send-data' }>;
            runFrom([{ ...a, from: wait.abs }, ...list.slice(wait.at + 1)]);
            while (!loading && !finished && backlog.length) handle(backlog.shift()!);
          },
          (err: Error) => {
            sendRaw(errorPacket(ErrorCode.NotDefined, 'read error'), true);
            finish(false, err.message);
          },
        );
      };

      const handle = (step: () => [TransferState, Action[]]) => {
        if (finished) return;
        if (loading) {
          backlog.push(step);
          return;
        }
        [state, actions] = step();
        runFrom(actions);
      };

      sock.on('message', (msg) => {
        if (msg.length >= 4 && msg.readUInt16BE(0) === 4) {
          const block = msg.readUInt16BE(2);
          handle(() => onAck(state, block)); // the hot path: no decode object
          return;
        }
        let p: TftpPacket;
        try {
          p = decode(msg);
        } catch {
          return;
        }
        if (p.op === 'ERROR') handle(() => onClientError(state, p.message));
      });

      runFrom(actions);
    });
  }

  let closing: Promise<void> | undefined;
  const closeMain = () => (closing ??= new Promise<void>((r) => main.close(() => r())));
  return {
    port: (main.address() as { port: number }).port,
    active: () => transfers.size,
    close: closeMain,
    drain: async (ms) => {
      // No new requests; running transfers go on over their own sockets.
      await closeMain();
      const until = Date.now() + ms;
      while (transfers.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return [...transfers].map(([client, file]) => `${file} to ${client}`);
    },
  };
}
