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

/**
 * Small buffers carved one after another from shared 256 KiB slabs, as
 * Node's own pool does below 4 KiB (its 8 KiB pool is too small for a
 * reply header plus 4 KiB of data, so every such Buffer.allocUnsafe was a
 * fresh ArrayBuffer: ~3 µs with its share of GC). A slab is freed by the GC
 * once no buffer cut from it is referenced; nothing is given back.
 */
export class SlabAllocator {
  private slab = Buffer.alloc(0);
  private used = 0;

  constructor(private readonly slabBytes = 256 * 1024) {}

  /** An uninitialised buffer of `bytes` for the caller to own. */
  take(bytes: number): Buffer {
    if (bytes > this.slabBytes >>> 3) return Buffer.allocUnsafe(bytes);
    if (this.used + bytes > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.used = 0;
    }
    const b = this.slab.subarray(this.used, this.used + bytes);
    this.used = (this.used + bytes + 7) & ~7; // keep the next one 8-byte aligned
    return b;
  }
}
