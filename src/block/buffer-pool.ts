/**
 * Reusable buffers for large reads, by exact size.
 *
 * Why: a fresh 64 KiB–1 MiB Buffer per read is external memory that V8
 * answers with frequent garbage collections (≈ 14 % of a target worker
 * streaming 1 MiB reads, bench/README.md). Sequential readers ask for the
 * same few sizes over and over, so a small free list per size serves
 * nearly every read. Small reads are left to Node's own 8 KiB slab.
 *
 * The owner gives a buffer back only when nothing references it any more
 * (for a reply: when the socket write that carried it has completed).
 */
export interface BufferPoolLimits {
  minBytes: number;
  maxBytes: number;
  /** Free buffers kept per size; more given back are dropped to the GC. */
  perSize: number;
  /** Free bytes kept over all sizes (a client mixing many sizes cannot grow the pool past this). */
  maxHeldBytes: number;
}

export const DEFAULT_POOL_LIMITS: BufferPoolLimits = { minBytes: 64 * 1024, maxBytes: 4 * 1024 * 1024, perSize: 32, maxHeldBytes: 16 * 1024 * 1024 };

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private heldBytes = 0;

  constructor(private readonly limits: BufferPoolLimits = DEFAULT_POOL_LIMITS) {}

  /** A buffer of exactly `bytes` for the caller to own, or undefined outside the pooled sizes. */
  take(bytes: number): Buffer | undefined {
    if (bytes < this.limits.minBytes || bytes > this.limits.maxBytes) return undefined;
    const reused = this.free.get(bytes)?.pop();
    if (!reused) return Buffer.allocUnsafeSlow(bytes);
    this.heldBytes -= bytes;
    return reused;
  }

  give(buf: Buffer): void {
    const n = buf.length;
    if (n < this.limits.minBytes || n > this.limits.maxBytes || buf.byteOffset !== 0 || buf.buffer.byteLength !== n) return;
    let list = this.free.get(n);
    if (!list) this.free.set(n, (list = []));
    if (list.length >= this.limits.perSize || this.heldBytes + n > this.limits.maxHeldBytes) return;
    list.push(buf);
    this.heldBytes += n;
  }

  /** Free buffers held, for tests. */
  get held(): number {
    let n = 0;
    for (const l of this.free.values()) n += l.length;
    return n;
  }
}
