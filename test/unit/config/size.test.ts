import { describe, expect, it } from 'vitest';
import { parseSize } from '../../../src/config/size.js';

describe('parseSize: one size syntax, 1024-based units', () => {
  const K = 1024, M = K * K, G = M * K, T = G * K;
  const ok: [string | number, number][] = [
    ['4096', 4096], [4096, 4096], ['0', 0], ['512B', 512],
    ['512K', 512 * K], ['4kb', 4 * K], ['4KiB', 4 * K],
    ['128M', 128 * M], ['512M', 512 * M], ['64MB', 64 * M], ['100MiB', 100 * M],
    ['10G', 10 * G], ['10GB', 10 * G], ['10GiB', 10 * G], ['1.5G', 1.5 * G], [' 2 T ', 2 * T], ['1tib', T],
  ];
  for (const [text, bytes] of ok) it(`${JSON.stringify(text)} = ${bytes}`, () => expect(parseSize(text)).toBe(bytes));

  it('says why a size is refused', () => {
    expect(parseSize('12Q')).toBe('invalid size "12Q": expected a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)');
    expect(parseSize('')).toMatch(/^invalid size "": expected/);
    expect(parseSize('-5M')).toMatch(/^invalid size "-5M": expected/);
    expect(parseSize('M')).toMatch(/^invalid size "M": expected/);
    expect(parseSize('0.3K')).toBe('invalid size "0.3K": not a whole number of bytes');
    expect(parseSize('9000000T')).toBe('invalid size "9000000T": too large (at most 8 PiB)');
    expect(parseSize(1.5)).toBe('invalid size 1.5: expected a whole number of bytes');
  });
});
