import { describe, expect, it } from 'vitest';
import { isAllZero, zeroRuns } from '../../../targets/nbd/zero-runs.js';

describe('zero runs for sparse READ replies', () => {
  it('finds zero and data granules and merges neighbours', () => {
    const g = 4096;
    const b = Buffer.alloc(8 * g);
    b[2 * g + 17] = 1; // granule 2 is data
    b[3 * g] = 9; // granule 3 is data
    b[7 * g + g - 1] = 5; // last granule is data (its last byte)
    expect(zeroRuns(b, g)).toEqual([
      { start: 0, end: 2 * g, zero: true },
      { start: 2 * g, end: 4 * g, zero: false },
      { start: 4 * g, end: 7 * g, zero: true },
      { start: 7 * g, end: 8 * g, zero: false },
    ]);
  });

  it('handles a short last granule and buffers longer than the scan block', () => {
    const b = Buffer.alloc(200 * 1024);
    expect(zeroRuns(b, 64 * 1024)).toEqual([{ start: 0, end: 200 * 1024, zero: true }]);
    b[200 * 1024 - 1] = 1;
    expect(isAllZero(b)).toBe(false);
    expect(zeroRuns(b, 64 * 1024).at(-1)).toEqual({ start: 192 * 1024, end: 200 * 1024, zero: false });
    expect(isAllZero(Buffer.alloc(0))).toBe(true);
  });
});
