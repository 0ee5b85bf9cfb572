/**
 * A minimal NBD client codec and socket reader for tests: builds client
 * messages byte by byte and parses server messages, independently of the
 * server's own codec (so that tests do not check the codec against itself).
 */
import net from 'node:net';

export const OPT_MAGIC = Buffer.from('IHAVEOPT', 'latin1');

export function clientFlags(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags);
  return b;
}

export function option(opt: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(16);
  OPT_MAGIC.copy(h, 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

export function infoData(name: string, infos: number[] = []): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i));
  return b;
}

export function metaData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n.length);
  parts.push(head, n);
  const cnt = Buffer.alloc(4);
  cnt.writeUInt32BE(queries.length);
  parts.push(cnt);
  for (const q of queries) {
    const qb = Buffer.from(q);
    const l = Buffer.alloc(4);
    l.writeUInt32BE(qb.length);
    parts.push(l, qb);
  }
  return Buffer.concat(parts);
}

export interface OptReply {
  option: number;
  type: number;
  data: Buffer;
}

/** Parse all complete option replies at the start of `buf`. */
export function parseOptReplies(buf: Buffer): { replies: OptReply[]; rest: Buffer } {
  const replies: OptReply[] = [];
  let at = 0;
  while (buf.length - at >= 20) {
    if (buf.readBigUInt64BE(at) !== 0x3e889045565a9n) throw new Error('bad option reply magic');
    const len = buf.readUInt32BE(at + 16);
    if (buf.length - at < 20 + len) break;
    replies.push({ option: buf.readUInt32BE(at + 8), type: buf.readUInt32BE(at + 12), data: buf.subarray(at + 20, at + 20 + len) });
    at += 20 + len;
  }
  return { replies, rest: buf.subarray(at) };
}

export function request(extended: boolean, type: number, flags: number, cookie: bigint, offset: bigint, length: bigint, payload?: Buffer): Buffer {
  const b = Buffer.alloc(extended ? 32 : 28);
  b.writeUInt32BE(extended ? 0x21e41c71 : 0x25609513, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeBigUInt64BE(offset, 16);
  if (extended) b.writeBigUInt64BE(length, 24);
  else b.writeUInt32BE(Number(length), 24);
  return payload ? Buffer.concat([b, payload]) : b;
}

export interface Chunk {
  magic: 'simple' | 'structured' | 'extended';
  flags: number;
  type: number;
  error: number;
  cookie: bigint;
  offset?: bigint;
  payload: Buffer;
}

/** A socket with an awaitable byte reader. */
export class RawConn {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  ended = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (b) => {
      this.buf = Buffer.concat([this.buf, b]);
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed with ${this.buf.length}/${n} bytes`);
      if (Date.now() > deadline) throw new Error('read timed out');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves true when the server closes the connection within the timeout. */
  async closed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.ended;
  }

  write(b: Buffer): void {
    this.sock.write(b);
  }

  async optReply(): Promise<OptReply> {
    const h = await this.read(20);
    const len = h.readUInt32BE(16);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: Buffer.from(await this.read(len)) };
  }

  /** Greeting + fixed-newstyle client flags (NO_ZEROES by default). */
  async handshake(flags = 3): Promise<void> {
    const g = await this.read(18);
    if (g.toString('latin1', 0, 16) !== 'NBDMAGICIHAVEOPT') throw new Error('bad greeting');
    this.write(clientFlags(flags));
  }

  /** Read one simple reply (plus `dataLen` bytes) or one structured/extended chunk. */
  async reply(dataLen = 0): Promise<Chunk> {
    const m = (await this.read(4)).readUInt32BE(0);
    if (m === 0x67446698) {
      const r = await this.read(12);
      const error = r.readUInt32BE(0);
      const payload = error === 0 && dataLen ? Buffer.from(await this.read(dataLen)) : Buffer.alloc(0);
      return { magic: 'simple', flags: 0, type: 0, error, cookie: r.readBigUInt64BE(4), payload };
    }
    if (m === 0x668e33ef) {
      const r = await this.read(16);
      const payload = Buffer.from(await this.read(r.readUInt32BE(12)));
      return { magic: 'structured', flags: r.readUInt16BE(0), type: r.readUInt16BE(2), error: 0, cookie: r.readBigUInt64BE(4), payload };
    }
    if (m === 0x6e8a278c) {
      const r = await this.read(28);
      const payload = Buffer.from(await this.read(Number(r.readBigUInt64BE(20))));
      return {
        magic: 'extended',
        flags: r.readUInt16BE(0),
        type: r.readUInt16BE(2),
        error: 0,
        cookie: r.readBigUInt64BE(4),
        offset: r.readBigUInt64BE(12),
        payload,
      };
    }
    throw new Error(`bad reply magic 0x${m.toString(16)}`);
  }

  /** Read chunks until one with the DONE flag (or a simple reply). */
  async replyAll(dataLen = 0): Promise<Chunk[]> {
    const out: Chunk[] = [];
    for (;;) {
      const c = await this.reply(dataLen);
      out.push(c);
      if (c.magic === 'simple' || c.flags & 1) return out;
    }
  }

  close(): void {
    this.sock.destroy();
  }
}
