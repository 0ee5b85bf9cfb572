import { describe, expect, it } from 'vitest';
import { BufferPool, SlabAllocator } from '../../../src/block/buffer-pool.js';

describe('BufferPool', () => {
  it('reuses a given-back buffer of the same size and keeps sizes apart', () => {
    const p = new BufferPool({ minBytes: 1024, maxBytes: 8192, perSize: 2, maxHeldBytes: 1 << 20 });
    const a = p.take(4096)!;
    expect(a.length).toBe(4096);
    p.give(a);
    expect(p.take(2048)).not.toBe(a);
    expect(p.take(4096)).toBe(a);
    expect(p.take(4096)).not.toBe(a); // the list is empty again: a fresh one
  });

  it('leaves sizes outside the limits to the caller and drops extras', () => {
    const p = new BufferPool({ minBytes: 1024, maxBytes: 8192, perSize: 2, maxHeldBytes: 1 << 20 });
    expect(p.take(512)).toBeUndefined();
    expect(p.take(8193)).toBeUndefined();
    for (let i = 0; i < 3; i++) p.give(Buffer.allocUnsafeSlow(2048));
    expect(p.held).toBe(2);
    p.give(Buffer.allocUnsafeSlow(4096).subarray(0, 2048)); // a view, not a whole buffer: not pooled
    expect(p.held).toBe(2);
  });

  it('keeps no more free bytes than maxHeldBytes over all sizes', () => {
    const p = new BufferPool({ minBytes: 1024, maxBytes: 8192, perSize: 8, maxHeldBytes: 10_000 });
    p.give(Buffer.allocUnsafeSlow(4096));
    p.give(Buffer.allocUnsafeSlow(4096));
    p.give(Buffer.allocUnsafeSlow(2048)); // 10,240 > 10,000: dropped
    expect(p.held).toBe(2);
    p.take(4096);
    p.give(Buffer.allocUnsafeSlow(2048)); // 6,144: kept
    expect(p.held).toBe(2);
  });
});

describe('SlabAllocator', () => {
  it('cuts disjoint, 8-byte aligned buffers from one slab until it is full', () => {
    const s = new SlabAllocator(64 * 1024);
    const a = s.take(4112);
    const b = s.take(4112);
    expect(a.length).toBe(4112);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + a.length);
    expect(b.byteOffset % 8).toBe(0);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    const many = Array.from({ length: 20 }, () => s.take(4096)); // more than one 64 KiB slab holds
    expect(new Set(many.map((m) => m.buffer)).size).toBeGreaterThan(1);
  });

  it('gives large requests a buffer of their own', () => {
    const s = new SlabAllocator(64 * 1024);
    const small = s.take(100);
    const big = s.take(16 * 1024); // > slab / 8
    expect(big.length).toBe(16 * 1024);
    expect(big.buffer).not.toBe(small.buffer);
  });
});
