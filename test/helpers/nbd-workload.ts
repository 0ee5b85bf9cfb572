/**
 * A verifying random-write workload over NBD for fault tests. It keeps
 * `depth` requests in flight on one NBD connection (fixed newstyle,
 * NBD_OPT_GO, simple replies), writes blocks with a unique pattern per
 * write (block number + write number + PRNG bytes), and reads blocks back
 * in between. It never has two requests on one block at once, so the
 * expected content of every block is the last acknowledged write; a read
 * that differs is a lost or torn acknowledged write. It records every
 * request's latency and completion time, so a test can measure the I/O
 * pause a failover causes.
 */
import { clientFlags, infoData, option, RawConn, request } from './nbd-raw-client.js';

const NBD_OPT_GO = 7;
const NBD_REP_ACK = 1;
const NBD_CMD_READ = 0;
const NBD_CMD_WRITE = 1;

export interface WorkloadOptions {
  port: number;
  host?: string;
  exportName: string;
  /** Bytes of the export the workload covers, split into `blockBytes` blocks. */
  spanBytes: number;
  blockBytes: number;
  depth: number;
  /** Fraction of requests that are verifying reads. */
  readRatio?: number;
  seed?: number;
}

export interface WorkloadStats {
  writes: number;
  reads: number;
  errors: string[];
  mismatches: string[];
  /** [completion time, latency ms] of every request. */
  samples: Array<[number, number]>;
}

export class NbdWorkload {
  readonly stats: WorkloadStats = { writes: 0, reads: 0, errors: [], mismatches: [], samples: [] };
  /** Block → last acknowledged content (absent: never written, reads zeroes). */
  readonly acked = new Map<number, Buffer>();
  private readonly busy = new Set<number>();
  private readonly waiting = new Map<bigint, (r: { error: number; data: Buffer }) => void>();
  private readonly pendingReads = new Map<bigint, number>();
  private cookie = 1n;
  private seq = 0;
  private rand: () => number;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private reader: Promise<void> | undefined;

  private constructor(private readonly conn: RawConn, private readonly o: WorkloadOptions) {
    this.spanBytes = o.spanBytes;
    let s = (o.seed ?? 1) >>> 0;
    this.rand = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
  }

  static async connect(o: WorkloadOptions): Promise<NbdWorkload> {
    const conn = await RawConn.connect(o.port, o.host);
    await conn.handshake(3);
    conn.write(option(NBD_OPT_GO, infoData(o.exportName)));
    for (;;) {
      const r = await conn.optReply();
      if (r.type === NBD_REP_ACK) break;
      if (r.type & 0x80000000) throw new Error(`NBD_OPT_GO refused: ${r.type.toString(16)} ${r.data.toString()}`);
    }
    const w = new NbdWorkload(conn, o);
    w.reader = w.readReplies();
    return w;
  }

  private spanBytes: number;

  get blocks(): number {
    return Math.floor(this.spanBytes / this.o.blockBytes);
  }

  /** Cover more (or less) of the export from now on, e.g. to reach segments never allocated yet. */
  setSpan(bytes: number): void {
    this.spanBytes = bytes;
  }

  /** Start `depth` request loops. */
  start(): void {
    for (let i = 0; i < this.o.depth; i++) this.loops.push(this.loop());
  }

  /** Let in-flight requests finish and stop issuing new ones. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Completed requests so far. */
  get done(): number {
    return this.stats.writes + this.stats.reads;
  }

  /** Longest latency of a request that completed after `from` (ms). */
  maxLatencySince(from: number): number {
    return Math.max(0, ...this.stats.samples.filter(([at]) => at >= from).map(([, ms]) => ms));
  }

  /** The slowest requests that completed after `from`: [start ms relative to `from`, latency ms]. */
  slowestSince(from: number, count = 3): Array<[number, number]> {
    return this.stats.samples.filter(([at]) => at >= from).sort((a, b) => b[1] - a[1]).slice(0, count).map(([at, ms]) => [at - ms - from, ms]);
  }

  /** Read every block once (sequentially) and compare with the last acknowledged write. */
  async verifyAll(): Promise<{ checked: number; mismatches: string[] }> {
    const mismatches: string[] = [];
    for (let b = 0; b < this.blocks; b++) {
      const r = await this.send(NBD_CMD_READ, b);
      if (r.error !== 0) mismatches.push(`block ${b}: read error ${r.error}`);
      else if (!r.data.equals(this.expected(b))) mismatches.push(`block ${b}: ${describe(r.data)} ≠ ${describe(this.expected(b))}`);
    }
    return { checked: this.blocks, mismatches };
  }

  close(): void {
    this.conn.close();
  }

  private expected(block: number): Buffer {
    return this.acked.get(block) ?? Buffer.alloc(this.o.blockBytes);
  }

  private async loop(): Promise<void> {
    while (!this.stopping && this.stats.errors.length === 0) {
      const block = this.pickIdle();
      this.busy.add(block);
      const started = Date.now();
      try {
        if (this.rand() < (this.o.readRatio ?? 0.2)) await this.readOne(block);
        else await this.writeOne(block);
      } catch (e) {
        this.stats.errors.push(`block ${block}: ${(e as Error).message}`);
      } finally {
        this.busy.delete(block);
        const now = Date.now();
        this.stats.samples.push([now, now - started]);
      }
    }
  }

  private pickIdle(): number {
    for (;;) {
      const b = Math.floor(this.rand() * this.blocks);
      if (!this.busy.has(b)) return b;
    }
  }

  private async writeOne(block: number): Promise<void> {
    const n = ++this.seq;
    const data = Buffer.alloc(this.o.blockBytes);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((this.rand() * 2 ** 32) >>> 0, i);
    data.writeUInt32BE(block, 0);
    data.writeUInt32BE(n, 4);
    const r = await this.send(NBD_CMD_WRITE, block, data);
    if (r.error !== 0) throw new Error(`write ${n} failed with NBD error ${r.error}`);
    this.acked.set(block, data);
    this.stats.writes++;
  }

  private async readOne(block: number): Promise<void> {
    const r = await this.send(NBD_CMD_READ, block);
    if (r.error !== 0) throw new Error(`read failed with NBD error ${r.error}`);
    if (!r.data.equals(this.expected(block))) this.stats.mismatches.push(`block ${block}: ${describe(r.data)} ≠ ${describe(this.expected(block))}`);
    this.stats.reads++;
  }

  private send(type: number, block: number, data?: Buffer): Promise<{ error: number; data: Buffer }> {
    const cookie = this.cookie++;
    const offset = BigInt(block * this.o.blockBytes);
    if (type === NBD_CMD_READ) this.pendingReads.set(cookie, this.o.blockBytes);
    const p = new Promise<{ error: number; data: Buffer }>((resolve) => this.waiting.set(cookie, resolve));
    this.conn.write(request(false, type, 0, cookie, offset, BigInt(this.o.blockBytes), data));
    return p;
  }

  /** Simple replies in any order: magic, error, cookie, then the data of a successful read. */
  private async readReplies(): Promise<void> {
    try {
      for (;;) {
        const h = await this.conn.read(16, 3_600_000);
        if (h.readUInt32BE(0) !== 0x67446698) throw new Error('bad reply magic');
        const error = h.readUInt32BE(4);
        const cookie = h.readBigUInt64BE(8);
        const len = this.pendingReads.get(cookie);
        this.pendingReads.delete(cookie);
        const data = len !== undefined && error === 0 ? Buffer.from(await this.conn.read(len, 3_600_000)) : Buffer.alloc(0);
        const w = this.waiting.get(cookie);
        this.waiting.delete(cookie);
        w?.({ error, data });
      }
    } catch (e) {
      for (const w of this.waiting.values()) w({ error: -1, data: Buffer.alloc(0) });
      this.waiting.clear();
      if (!this.stopping) this.stats.errors.push(`connection: ${(e as Error).message}`);
    }
  }
}

function describe(b: Buffer): string {
  return b.every((x) => x === 0) ? 'zeroes' : `block ${b.readUInt32BE(0)} write ${b.readUInt32BE(4)}`;
}
