/**
 * IOSplitor (design.md §3, Curve's client): cut one user request into
 * pieces that each lie inside a single chunk, because a chunk is the unit a
 * copyset leader serves. Pure arithmetic, no I/O.
 *
 * A volume is a run of segments (the MDS's allocation unit), each a run of
 * chunks; chunk i of segment s covers volume bytes
 * [s·segmentSizeBytes + i·chunkSizeBytes, +chunkSizeBytes).
 */

export interface VolumeLayout {
  /** A multiple of chunkSizeBytes (the MDS guarantees it). */
  readonly segmentSizeBytes: number;
  readonly chunkSizeBytes: number;
}

export interface IoPiece {
  readonly segmentIndex: number;
  /** Index of the chunk inside its segment (into SegmentInfo.chunks). */
  readonly chunkIndex: number;
  /** Byte offset inside the chunk. */
  readonly chunkOffset: number;
  readonly lengthBytes: number;
  /** Where the piece starts inside the user's buffer. */
  readonly bufferOffset: number;
}

/**
 * Pieces covering [offsetBytes, offsetBytes + lengthBytes) in order, none
 * crossing a chunk boundary. Precondition: non-negative safe integers and a
 * valid layout (RangeError otherwise: a programmer error).
 */
export function splitIo(layout: VolumeLayout, offsetBytes: number, lengthBytes: number): IoPiece[] {
  const { segmentSizeBytes: seg, chunkSizeBytes: chunk } = layout;
  if (!(chunk > 0) || seg % chunk !== 0 || seg <= 0) throw new RangeError('bad volume layout');
  if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0) {
    throw new RangeError('bad I/O range');
  }
  const pieces: IoPiece[] = [];
  let at = offsetBytes;
  const end = offsetBytes + lengthBytes;
  while (at < end) {
    const chunkStart = at - (at % chunk);
    const n = Math.min(end, chunkStart + chunk) - at;
    pieces.push({
      segmentIndex: Math.floor(at / seg),
      chunkIndex: (chunkStart % seg) / chunk,
      chunkOffset: at - chunkStart,
      lengthBytes: n,
      bufferOffset: at - offsetBytes,
    });
    at += n;
  }
  return pieces;
}

/** Indexes of the segments [offsetBytes, offsetBytes + lengthBytes) touches, ascending. */
export function segmentsOf(layout: VolumeLayout, offsetBytes: number, lengthBytes: number): number[] {
  if (lengthBytes <= 0) return [];
  const first = Math.floor(offsetBytes / layout.segmentSizeBytes);
  const last = Math.floor((offsetBytes + lengthBytes - 1) / layout.segmentSizeBytes);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
