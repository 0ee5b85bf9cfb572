/**
 * On-disk format of one chunk file (pure codec, no I/O):
 *
 *   [0, 4096)              header (below), CRC32C-protected
 *   [4096, 4096 + chunk)   data; byte k of the chunk lives at 4096 + k
 *
 * Header (big-endian):
 *   0 u32 magic "BGCK"   4 u16 version (1)   6 u16 flags (0)
 *   8 u64 chunkId       16 u32 copysetId    20 u32 chunkSizeBytes
 *  24 u64 chunkSeq      32 u64 snapshotSeq (0 = no snapshot file)
 *  40 u16 cloneSourceLength  42 cloneSource (utf8, ≤ 1024 bytes; "" = not a clone)
 *  1066 u64 cloneOffsetBytes (offset of this chunk inside the clone source)
 *  4092 u32 crc32c of bytes [0, 4092)
 *
 * chunkSeq/snapshotSeq/cloneSource are the room the snapshot and clone
 * issue needs (design.md §3: copy-on-write by sequence number, lazy clones);
 * this issue only records chunkSeq = the newest seq written. The data area
 * starts on a 4 KiB boundary so data I/O stays page aligned.
 *
 * A header that fails its magic or CRC (a crash between taking a pool file
 * and writing the header) decodes as undefined; the store then treats the
 * chunk as fresh (seq 0): the Raft log replays the writes that created it.
 */
import { crc32c } from '../../../src/util/crc32c.js';

export const CHUNK_HEADER_BYTES = 4096;
export const CHUNK_FORMAT_VERSION = 1;
const MAGIC = 0x4247434b; // "BGCK"
const CLONE_SOURCE_MAX = 1024;
const CRC_AT = 4092;

export interface ChunkMeta {
  readonly copysetId: number;
  readonly chunkId: number;
  readonly chunkSizeBytes: number;
  /** Newest volume sequence number written into the chunk. */
  readonly chunkSeq: number;
  /** Sequence of the chunk's snapshot file; 0 = none (reserved). */
  readonly snapshotSeq: number;
  /** Clone source ("volume:chunkId" or similar); "" = not a clone (reserved). */
  readonly cloneSource: string;
  readonly cloneOffsetBytes: number;
}

export function freshMeta(copysetId: number, chunkId: number, chunkSizeBytes: number): ChunkMeta {
  return { copysetId, chunkId, chunkSizeBytes, chunkSeq: 0, snapshotSeq: 0, cloneSource: '', cloneOffsetBytes: 0 };
}

function writeU64(b: Buffer, off: number, v: number): void {
  b.writeBigUInt64BE(BigInt(v), off);
}

function readU64(b: Buffer, off: number): number {
  return Number(b.readBigUInt64BE(off));
}

export function encodeChunkHeader(m: ChunkMeta): Buffer {
  const src = Buffer.from(m.cloneSource, 'utf8');
  if (src.length > CLONE_SOURCE_MAX) throw new RangeError('cloneSource too long');
  const b = Buffer.alloc(CHUNK_HEADER_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(CHUNK_FORMAT_VERSION, 4);
  writeU64(b, 8, m.chunkId);
  b.writeUInt32BE(m.copysetId, 16);
  b.writeUInt32BE(m.chunkSizeBytes, 20);
  writeU64(b, 24, m.chunkSeq);
  writeU64(b, 32, m.snapshotSeq);
  b.writeUInt16BE(src.length, 40);
  src.copy(b, 42);
  writeU64(b, 42 + CLONE_SOURCE_MAX, m.cloneOffsetBytes);
  b.writeUInt32BE(crc32c(b, 0, CRC_AT), CRC_AT);
  return b;
}

/** undefined when the header is missing, torn or from an unknown version. */
export function decodeChunkHeader(b: Buffer): ChunkMeta | undefined {
  if (b.length < CHUNK_HEADER_BYTES || b.readUInt32BE(0) !== MAGIC) return undefined;
  if (b.readUInt16BE(4) !== CHUNK_FORMAT_VERSION) return undefined;
  if (crc32c(b, 0, CRC_AT) !== b.readUInt32BE(CRC_AT)) return undefined;
  const srcLen = Math.min(b.readUInt16BE(40), CLONE_SOURCE_MAX);
  return {
    chunkId: readU64(b, 8),
    copysetId: b.readUInt32BE(16),
    chunkSizeBytes: b.readUInt32BE(20),
    chunkSeq: readU64(b, 24),
    snapshotSeq: readU64(b, 32),
    cloneSource: b.toString('utf8', 42, 42 + srcLen),
    cloneOffsetBytes: readU64(b, 42 + CLONE_SOURCE_MAX),
  };
}
