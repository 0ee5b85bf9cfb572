import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { crc32c, crc32cOf, crc32cUpdate } from '../../../src/util/crc32c.js';

/** Bitwise reference implementation, independent of the table code. */
function slowCrc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  test('check value and RFC 7143 Appendix B vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // RFC 7143 B.4: 32 bytes of zeroes → aa 36 91 8a (little-endian on the wire).
    const z = Buffer.alloc(4);
    z.writeUInt32LE(crc32c(Buffer.alloc(32)));
    expect(z.toString('hex')).toBe('aa36918a');
    const ones = Buffer.alloc(4);
    ones.writeUInt32LE(crc32c(Buffer.alloc(32, 0xff)));
    expect(ones.toString('hex')).toBe('43aba862');
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const w = Buffer.alloc(4);
    w.writeUInt32LE(crc32c(inc));
    expect(w.toString('hex')).toBe('4e79dd46');
  });

  test('matches the bitwise reference at every length and alignment', () => {
    const data = createHash('sha512').update('seed').digest();
    const big = Buffer.concat([data, data, data]);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= big.length; end += 7) {
        expect(crc32c(big, start, end)).toBe(slowCrc32c(big.subarray(start, end)));
      }
    }
  });

  test('incremental and multi-buffer forms agree', () => {
    const a = Buffer.from('hello, ');
    const b = Buffer.from('iscsi world');
    const whole = crc32c(Buffer.concat([a, b]));
    expect(crc32cOf([a, b])).toBe(whole);
    expect((crc32cUpdate(crc32cUpdate(0xffffffff, a), b) ^ 0xffffffff) >>> 0).toBe(whole);
  });
});
