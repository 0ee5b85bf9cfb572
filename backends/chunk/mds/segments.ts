/**
 * Volume geometry and thin segment allocation (pure). A volume's space is
 * allocated a segment at a time on first write; a segment is a run of
 * chunks, each placed on a copyset (design.md §3). Chunks go to the copysets
 * holding the fewest chunks so far, so data spreads over every copyset.
 */
import type { SegmentInfo } from '../proto/mds-api.js';
import type { SegmentRecord, VolumeRecord } from './types.js';

/** Volume sizes are whole 4 KiB blocks (the largest logical block size we export). */
export const VOLUME_ALIGN_BYTES = 4096;

export type GeometryError = 'BAD_SIZE' | 'BAD_GEOMETRY' | 'OUT_OF_RANGE';

export function validateGeometry(segmentSizeBytes: number, chunkSizeBytes: number): GeometryError | undefined {
  const ok =
    Number.isSafeInteger(chunkSizeBytes) &&
    chunkSizeBytes >= VOLUME_ALIGN_BYTES &&
    chunkSizeBytes % VOLUME_ALIGN_BYTES === 0 &&
    chunkSizeBytes <= 0xffffffff &&
    Number.isSafeInteger(segmentSizeBytes) &&
    segmentSizeBytes >= chunkSizeBytes &&
    segmentSizeBytes % chunkSizeBytes === 0;
  return ok ? undefined : 'BAD_GEOMETRY';
}

export function validateVolumeSize(sizeBytes: unknown): sizeBytes is number {
  return typeof sizeBytes === 'number' && Number.isSafeInteger(sizeBytes) && sizeBytes > 0 && sizeBytes % VOLUME_ALIGN_BYTES === 0;
}

export function segmentCount(v: Pick<VolumeRecord, 'sizeBytes' | 'segmentSizeBytes'>): number {
  return Math.ceil(v.sizeBytes / v.segmentSizeBytes);
}

/** Index of the segment holding byte `offsetBytes`, or OUT_OF_RANGE. */
export function segmentIndexOf(v: Pick<VolumeRecord, 'sizeBytes' | 'segmentSizeBytes'>, offsetBytes: unknown): number | 'OUT_OF_RANGE' {
  if (typeof offsetBytes !== 'number' || !Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes >= v.sizeBytes) {
    return 'OUT_OF_RANGE';
  }
  return Math.floor(offsetBytes / v.segmentSizeBytes);
}

export interface SegmentPlan {
  chunks: Array<[number, number]>;
  nextChunkId: number;
}

/**
 * Chunk ids and copysets for one new segment. `chunkCounts` maps every
 * usable copyset to the chunks it holds (mutated: the new chunks are
 * counted). Returns undefined when there is no copyset.
 */
export function planSegment(
  v: Pick<VolumeRecord, 'segmentSizeBytes' | 'chunkSizeBytes'>,
  chunkCounts: Map<number, number>,
  nextChunkId: number,
): SegmentPlan | undefined {
  if (chunkCounts.size === 0) return undefined;
  const n = v.segmentSizeBytes / v.chunkSizeBytes;
  const chunks: Array<[number, number]> = [];
  let id = nextChunkId;
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestCount = Infinity;
    for (const [cs, count] of chunkCounts) {
      if (count < bestCount || (count === bestCount && cs < best)) {
        best = cs;
        bestCount = count;
      }
    }
    chunkCounts.set(best, bestCount + 1);
    chunks.push([id++, best]);
  }
  return { chunks, nextChunkId: id };
}

/** Chunks per copyset over all segments. */
export function chunkCountsOf(copysetIds: Iterable<number>, segments: Iterable<SegmentRecord>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of copysetIds) counts.set(id, 0);
  for (const s of segments) for (const [, cs] of s.chunks) if (counts.has(cs)) counts.set(cs, counts.get(cs)! + 1);
  return counts;
}

export function segmentInfo(v: VolumeRecord, s: SegmentRecord): SegmentInfo {
  return {
    index: s.index,
    offsetBytes: s.index * v.segmentSizeBytes,
    lengthBytes: v.segmentSizeBytes,
    chunkSizeBytes: v.chunkSizeBytes,
    chunks: s.chunks.map(([chunkId, copysetId]) => ({ chunkId, copysetId })),
  };
}
