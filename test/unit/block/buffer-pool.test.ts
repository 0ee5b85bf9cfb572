import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/block/buffer-pool.js';

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
