/**
 * A minimal NBD client (the "fixed newstyle" handshake and NBD_CMD_READ with
 * simple replies, per the NBD protocol document) to read disk images that
 * qemu-nbd exports on a Unix socket. One request at a time.
 */
import net from 'node:net';

const NBDMAGIC = Buffer.from('NBDMAGIC');
const IHAVEOPT = 0x49484156454f5054n;
const REQUEST_MAGIC = 0x25609513;
const REPLY_MAGIC = 0x67446698;
const OPT_EXPORT_NAME = 1;
const CMD_READ = 0;
const CMD_DISC = 2;
const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

class Reader {
  #chunks: Buffer[] = [];
  #have = 0;
  #want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;

  constructor(sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#have += d.length;
      this.#pump();
    });
    const fail = (e: Error) => {
      this.#error = e;
      this.#want?.reject(e);
      this.#want = undefined;
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('NBD server closed the connection')));
  }

  #pump(): void {
    if (!this.#want || this.#have < this.#want.n) return;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const { n, resolve } = this.#want;
    this.#want = undefined;
    this.#chunks = all.length > n ? [all.subarray(n)] : [];
    this.#have = all.length - n;
    resolve(all.subarray(0, n));
  }

  take(n: number): Promise<Buffer> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#want = { n, resolve, reject };
      this.#pump();
    });
  }
}

export class NbdClient {
  readonly size: number;
  readonly #sock: net.Socket;
  readonly #reader: Reader;
  #queue: Promise<unknown> = Promise.resolve();
  #handle = 0n;

  private constructor(sock: net.Socket, reader: Reader, size: number) {
    this.#sock = sock;
    this.#reader = reader;
    this.size = size;
  }

  /** Connect, retrying while the server starts up. */
  static async connect(path: string, timeoutMs: number): Promise<NbdClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await NbdClient.#handshake(path);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  static async #handshake(path: string): Promise<NbdClient> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(path, () => resolve(s));
      s.once('error', reject);
    });
    const reader = new Reader(sock);
    const hello = await reader.take(18);
    if (!hello.subarray(0, 8).equals(NBDMAGIC) || hello.readBigUInt64BE(8) !== IHAVEOPT) throw new Error('not an NBD newstyle server');
    const serverFlags = hello.readUInt16BE(16);
    const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
    const opt = Buffer.alloc(16);
    opt.writeBigUInt64BE(IHAVEOPT, 0);
    opt.writeUInt32BE(OPT_EXPORT_NAME, 8);
    opt.writeUInt32BE(0, 12); // the default export, ""
    sock.write(Buffer.concat([flags, opt]));
    const info = await reader.take(noZeroes ? 10 : 134);
    return new NbdClient(sock, reader, Number(info.readBigUInt64BE(0)));
  }

  read(offset: number, length: number): Promise<Buffer> {
    const run = async () => {
      const handle = ++this.#handle;
      const req = Buffer.alloc(28);
      req.writeUInt32BE(REQUEST_MAGIC, 0);
      req.writeUInt16BE(0, 4);
      req.writeUInt16BE(CMD_READ, 6);
      req.writeBigUInt64BE(handle, 8);
      req.writeBigUInt64BE(BigInt(offset), 16);
      req.writeUInt32BE(length, 24);
      this.#sock.write(req);
      const reply = await this.#reader.take(16);
      if (reply.readUInt32BE(0) !== REPLY_MAGIC || reply.readBigUInt64BE(8) !== handle) throw new Error('NBD protocol error: unexpected reply');
      const error = reply.readUInt32BE(4);
      if (error !== 0) throw new Error(`NBD read of ${length} bytes at ${offset} failed with error ${error}`);
      return Buffer.from(await this.#reader.take(length));
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    const req = Buffer.alloc(28);
    req.writeUInt32BE(REQUEST_MAGIC, 0);
    req.writeUInt16BE(CMD_DISC, 6);
    await this.#queue;
    this.#sock.end(req);
  }
}
