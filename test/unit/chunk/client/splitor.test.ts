import { describe, expect, it } from 'vitest';
import { segmentsOf, splitIo } from '../../../../backends/chunk/client/splitor.js';

const layout = { segmentSizeBytes: 64 * 1024, chunkSizeBytes: 16 * 1024 };

describe('splitIo (IOSplitor)', () => {
  it('keeps a request inside one chunk whole', () => {
    expect(splitIo(layout, 4096, 8192)).toEqual([{ segmentIndex: 0, chunkIndex: 0, chunkOffset: 4096, lengthBytes: 8192, bufferOffset: 0 }]);
  });

  it('cuts at chunk and segment boundaries and keeps buffer offsets contiguous', () => {
    const pieces = splitIo(layout, 60 * 1024, 24 * 1024);
    expect(pieces).toEqual([
      { segmentIndex: 0, chunkIndex: 3, chunkOffset: 12 * 1024, lengthBytes: 4096, bufferOffset: 0 },
      { segmentIndex: 1, chunkIndex: 0, chunkOffset: 0, lengthBytes: 16 * 1024, bufferOffset: 4096 },
      { segmentIndex: 1, chunkIndex: 1, chunkOffset: 0, lengthBytes: 4096, bufferOffset: 20 * 1024 },
    ]);
  });

  it('covers every byte exactly once for many ranges', () => {
    for (let off = 0; off < 200 * 1024; off += 7 * 512) {
      for (const len of [512, 16 * 1024, 33 * 1024, 130 * 1024]) {
        const pieces = splitIo(layout, off, len);
        let at = 0;
        for (const p of pieces) {
          expect(p.bufferOffset).toBe(at);
          expect(p.chunkOffset + p.lengthBytes).toBeLessThanOrEqual(layout.chunkSizeBytes);
          const volumeAt = p.segmentIndex * layout.segmentSizeBytes + p.chunkIndex * layout.chunkSizeBytes + p.chunkOffset;
          expect(volumeAt).toBe(off + at);
          at += p.lengthBytes;
        }
        expect(at).toBe(len);
      }
    }
  });

  it('returns no pieces for an empty request and rejects bad input', () => {
    expect(splitIo(layout, 4096, 0)).toEqual([]);
    expect(() => splitIo(layout, -1, 10)).toThrow(RangeError);
    expect(() => splitIo({ segmentSizeBytes: 1000, chunkSizeBytes: 300 }, 0, 10)).toThrow(RangeError);
  });

  it('lists touched segments', () => {
    expect(segmentsOf(layout, 60 * 1024, 8 * 1024)).toEqual([0, 1]);
    expect(segmentsOf(layout, 64 * 1024, 64 * 1024)).toEqual([1]);
    expect(segmentsOf(layout, 0, 0)).toEqual([]);
  });
});
