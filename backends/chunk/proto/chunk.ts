/**
 * Binary bodies of the hot chunk messages (WriteChunk, ReadChunk,
 * DeleteChunk, GetChunkInfo) and of the Raft envelope. No JSON, no base64:
 * a write's data rides after a 28-byte fixed part, a read's data after the
 * response's fixed part, and both are views, not copies.
 *
 * ChunkRequest (big-endian):
 *   0 u32 copysetId   4 u64 chunkId   12 u32 offset   16 u32 length   20 u64 seq
 *   28.. data (WriteChunk only; exactly `length` bytes)
 * ChunkResponse:
 *   0 u16 status   2 u16 reserved(0)   4 u32 leaderHintId   8 u64 chunkSeq
 *   16 u64 snapshotSeq   24 u16 hintLen   26 hint (utf8 "host:port")   then data
 * RaftEnvelope:
 *   0 u32 groupId   4.. payload (opaque to this layer)
 */
import { isStatusCode, STATUS, type StatusCode } from './status.js';

export const CHUNK_REQUEST_FIXED = 28;
export const CHUNK_RESPONSE_FIXED = 26;

export type ChunkOp = 'write' | 'read' | 'delete' | 'info';

export interface ChunkRequest {
  readonly copysetId: number;
  readonly chunkId: number;
  /** Byte offset inside the chunk. */
  readonly offset: number;
  /** write/read: bytes; delete/info: 0. */
  readonly length: number;
  /**
   * The volume's sequence number (snapshots, design.md §3): a write with a
   * seq newer than the chunk's copies the touched pages first. read: 0 =
   * current data, else read as of that snapshot seq.
   */
  readonly seq: number;
  /** write only: `length` bytes; borrowed until the call settles. */
  readonly data?: Buffer;
}

export interface ChunkResponse {
  readonly status: StatusCode;
  /** NOT_LEADER: the leader's chunkserver id if known (0 = unknown). */
  readonly leaderHintId: number;
  /** NOT_LEADER: the leader's "host:port" if known ("" = unknown). */
  readonly leaderHint: string;
  /** info: the chunk's current sequence number. */
  readonly chunkSeq: number;
  /** info: the sequence of its snapshot file (0 = none). */
  readonly snapshotSeq: number;
  /** read OK: the bytes. */
  readonly data?: Buffer;
}

export interface RaftEnvelope {
  /** The copyset id (one Raft group per copyset). */
  readonly groupId: number;
  /** The Raft message, encoded by the chunkserver; opaque here. */
  readonly payload: Buffer;
}

export type ChunkViolationKind = 'SHORT_BODY' | 'BAD_LENGTH' | 'OUT_OF_RANGE' | 'BAD_STATUS';

export interface ChunkViolation {
  readonly violation: ChunkViolationKind;
  readonly detail: string;
}

export function isChunkViolation(x: unknown): x is ChunkViolation {
  return typeof x === 'object' && x !== null && 'violation' in x;
}

const U32_MAX = 0xffffffff;

function checkU64(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be a safe non-negative integer`);
}
function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new RangeError(`${what} must be a u32`);
}

/** Encode a request: [fixed part, data?]. Throws RangeError on programmer errors only. */
export function encodeChunkRequest(r: ChunkRequest): Buffer[] {
  checkU32(r.copysetId, 'copysetId');
  checkU64(r.chunkId, 'chunkId');
  checkU32(r.offset, 'offset');
  checkU32(r.length, 'length');
  checkU64(r.seq, 'seq');
  const b = Buffer.allocUnsafe(CHUNK_REQUEST_FIXED);
  b.writeUInt32BE(r.copysetId, 0);
  b.writeBigUInt64BE(BigInt(r.chunkId), 4);
  b.writeUInt32BE(r.offset, 12);
  b.writeUInt32BE(r.length, 16);
  b.writeBigUInt64BE(BigInt(r.seq), 20);
  return r.data && r.data.length > 0 ? [b, r.data] : [b];
}

function readU64(b: Buffer, off: number): number | undefined {
  const v = b.readBigUInt64BE(off);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
}

/** Decode and validate a request body for `op` (lengths per op; offset+length within u32). */
export function decodeChunkRequest(op: ChunkOp, body: Buffer): ChunkRequest | ChunkViolation {
  if (body.length < CHUNK_REQUEST_FIXED) return { violation: 'SHORT_BODY', detail: `${body.length} bytes` };
  const chunkId = readU64(body, 4);
  const seq = readU64(body, 20);
  if (chunkId === undefined || seq === undefined) return { violation: 'OUT_OF_RANGE', detail: 'chunkId or seq ≥ 2^53' };
  const offset = body.readUInt32BE(12);
  const length = body.readUInt32BE(16);
  const dataBytes = body.length - CHUNK_REQUEST_FIXED;
  const want = op === 'write' ? length : 0;
  if (dataBytes !== want) return { violation: 'BAD_LENGTH', detail: `${op}: ${dataBytes} data bytes, want ${want}` };
  if ((op === 'write' || op === 'read') && length === 0) return { violation: 'BAD_LENGTH', detail: `${op} of 0 bytes` };
  if ((op === 'delete' || op === 'info') && (length !== 0 || offset !== 0)) {
    return { violation: 'BAD_LENGTH', detail: `${op} with offset/length` };
  }
  if (offset + length > U32_MAX + 1) return { violation: 'OUT_OF_RANGE', detail: 'offset + length > 2^32' };
  const r = { copysetId: body.readUInt32BE(0), chunkId, offset, length, seq };
  return op === 'write' ? { ...r, data: body.subarray(CHUNK_REQUEST_FIXED) } : r;
}

/** Build a response; only `status` is required. */
export function chunkResponse(status: StatusCode, extra: Partial<Omit<ChunkResponse, 'status'>> = {}): ChunkResponse {
  return { status, leaderHintId: 0, leaderHint: '', chunkSeq: 0, snapshotSeq: 0, ...extra };
}

export function encodeChunkResponse(r: ChunkResponse): Buffer[] {
  checkU32(r.leaderHintId, 'leaderHintId');
  checkU64(r.chunkSeq, 'chunkSeq');
  checkU64(r.snapshotSeq, 'snapshotSeq');
  const hint = Buffer.from(r.leaderHint, 'utf8');
  if (hint.length > 0xffff) throw new RangeError('leaderHint too long');
  const b = Buffer.allocUnsafe(CHUNK_RESPONSE_FIXED + hint.length);
  b.writeUInt16BE(r.status, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt32BE(r.leaderHintId, 4);
  b.writeBigUInt64BE(BigInt(r.chunkSeq), 8);
  b.writeBigUInt64BE(BigInt(r.snapshotSeq), 16);
  b.writeUInt16BE(hint.length, 24);
  hint.copy(b, CHUNK_RESPONSE_FIXED);
  return r.data && r.data.length > 0 ? [b, r.data] : [b];
}

export function decodeChunkResponse(body: Buffer): ChunkResponse | ChunkViolation {
  if (body.length < CHUNK_RESPONSE_FIXED) return { violation: 'SHORT_BODY', detail: `${body.length} bytes` };
  const status = body.readUInt16BE(0);
  if (!isStatusCode(status)) return { violation: 'BAD_STATUS', detail: `status ${status}` };
  const chunkSeq = readU64(body, 8);
  const snapshotSeq = readU64(body, 16);
  if (chunkSeq === undefined || snapshotSeq === undefined) return { violation: 'OUT_OF_RANGE', detail: 'seq ≥ 2^53' };
  const hintLen = body.readUInt16BE(24);
  const dataAt = CHUNK_RESPONSE_FIXED + hintLen;
  if (body.length < dataAt) return { violation: 'SHORT_BODY', detail: `hint of ${hintLen} bytes` };
  const r = {
    status,
    leaderHintId: body.readUInt32BE(4),
    leaderHint: body.toString('utf8', CHUNK_RESPONSE_FIXED, dataAt),
    chunkSeq,
    snapshotSeq,
  };
  return body.length > dataAt ? { ...r, data: body.subarray(dataAt) } : r;
}

export function encodeRaftEnvelope(e: RaftEnvelope): Buffer[] {
  checkU32(e.groupId, 'groupId');
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(e.groupId, 0);
  return [b, e.payload];
}

export function decodeRaftEnvelope(body: Buffer): RaftEnvelope | ChunkViolation {
  if (body.length < 4) return { violation: 'SHORT_BODY', detail: `${body.length} bytes` };
  return { groupId: body.readUInt32BE(0), payload: body.subarray(4) };
}

/** Body of a FLAG_ERROR response: u16 status + utf8 message. */
export function encodeErrorBody(status: StatusCode, message: string): Buffer[] {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(status, 0);
  return [b, Buffer.from(message.slice(0, 1024), 'utf8')];
}

export function decodeErrorBody(body: Buffer): { status: StatusCode; message: string } {
  const raw = body.length >= 2 ? body.readUInt16BE(0) : STATUS.INTERNAL;
  return { status: isStatusCode(raw) ? raw : STATUS.INTERNAL, message: body.toString('utf8', Math.min(2, body.length)) };
}
