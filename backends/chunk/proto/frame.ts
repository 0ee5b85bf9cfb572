/**
 * Frame codec of blockgate's chunk-backend RPC (MDS, chunkservers, clients).
 *
 * One frame = a fixed 24-byte header + a body of `bodyLength` bytes:
 *
 *   off size field
 *     0    4 magic       0x42475250 ("BGRP")
 *     4    1 version     1
 *     5    1 flags       FLAG_RESPONSE | FLAG_ERROR | FLAG_ONEWAY
 *     6    2 type        message type (messages.ts MSG table)
 *     8    8 requestId   u64, chosen by the caller, echoed in the response
 *    16    4 bodyLength  u32, ≤ the framer's maxBodyBytes
 *    20    4 crc         CRC32C of header bytes [0, 20) followed by the body
 *
 * All integers are big-endian (network order). Pure: no sockets, no timers.
 * `encodeFrame` returns buffers to write in order (the body parts are not
 * copied, so a WriteChunk payload goes to the socket as the caller gave it).
 */
import { crc32cUpdate } from '../../../src/util/crc32c.js';

export const FRAME_MAGIC = 0x42475250;
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 24;
const CRC_OFFSET = 20;

/** Set on every response frame. */
export const FLAG_RESPONSE = 0x01;
/** Response only: the body is an ErrorBody (status + message), not the type's response. */
export const FLAG_ERROR = 0x02;
/** Request only: the sender expects no response (Raft messages). */
export const FLAG_ONEWAY = 0x04;
const KNOWN_FLAGS = FLAG_RESPONSE | FLAG_ERROR | FLAG_ONEWAY;

/** Default bound on one body: a 16 MiB chunk write plus headroom. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface FrameHeader {
  readonly flags: number;
  readonly type: number;
  /** u64 on the wire; callers keep ids below 2^53. */
  readonly requestId: number;
  readonly bodyLength: number;
}

export interface Frame extends FrameHeader {
  /** A view into the framer's input when possible; copy it to keep it past the next push. */
  readonly body: Buffer;
}

export type FrameViolationKind = 'BAD_MAGIC' | 'BAD_VERSION' | 'BAD_FLAGS' | 'BODY_TOO_LARGE' | 'BAD_CRC' | 'BAD_REQUEST_ID';

/** Connection-fatal: the stream cannot be resynchronised after any of these. */
export interface FrameViolation {
  readonly violation: FrameViolationKind;
  readonly detail: string;
}

export function isFrameViolation(x: unknown): x is FrameViolation {
  return typeof x === 'object' && x !== null && 'violation' in x;
}

/** Header + body parts, CRC filled in. `body` parts are borrowed until written. */
export function encodeFrame(h: Omit<FrameHeader, 'bodyLength'>, body: readonly Uint8Array[] = []): Buffer[] {
  const bodyLength = body.reduce((n, b) => n + b.length, 0);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(FRAME_MAGIC, 0);
  header.writeUInt8(FRAME_VERSION, 4);
  header.writeUInt8(h.flags, 5);
  header.writeUInt16BE(h.type, 6);
  header.writeBigUInt64BE(BigInt(h.requestId), 8);
  header.writeUInt32BE(bodyLength, 16);
  let crc = crc32cUpdate(0xffffffff, header, 0, CRC_OFFSET);
  for (const b of body) crc = crc32cUpdate(crc, b);
  header.writeUInt32BE((crc ^ 0xffffffff) >>> 0, CRC_OFFSET);
  return [header, ...body.map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length)))];
}

/** Decode and check a header (not the CRC, which needs the body). */
export function decodeHeader(buf: Buffer, maxBodyBytes = DEFAULT_MAX_BODY_BYTES): FrameHeader | FrameViolation {
  if (buf.length < HEADER_BYTES) throw new RangeError('decodeHeader needs HEADER_BYTES');
  const magic = buf.readUInt32BE(0);
  if (magic !== FRAME_MAGIC) return { violation: 'BAD_MAGIC', detail: `magic 0x${magic.toString(16)}` };
  const version = buf.readUInt8(4);
  if (version !== FRAME_VERSION) return { violation: 'BAD_VERSION', detail: `version ${version}` };
  const flags = buf.readUInt8(5);
  if ((flags & ~KNOWN_FLAGS) !== 0) return { violation: 'BAD_FLAGS', detail: `flags 0x${flags.toString(16)}` };
  const id = buf.readBigUInt64BE(8);
  if (id > BigInt(Number.MAX_SAFE_INTEGER)) return { violation: 'BAD_REQUEST_ID', detail: `request id ${id}` };
  const bodyLength = buf.readUInt32BE(16);
  if (bodyLength > maxBodyBytes) return { violation: 'BODY_TOO_LARGE', detail: `body ${bodyLength} > ${maxBodyBytes}` };
  return { flags, type: buf.readUInt16BE(6), requestId: Number(id), bodyLength };
}

/** CRC check of a complete frame held as header + body. */
export function checkCrc(header: Buffer, body: Buffer): FrameViolation | undefined {
  let crc = crc32cUpdate(0xffffffff, header, 0, CRC_OFFSET);
  crc = (crc32cUpdate(crc, body) ^ 0xffffffff) >>> 0;
  const want = header.readUInt32BE(CRC_OFFSET);
  return crc === want ? undefined : { violation: 'BAD_CRC', detail: `crc 0x${want.toString(16)} != 0x${crc.toString(16)}` };
}

/**
 * Incremental framer: push socket chunks, get whole frames. After the first
 * violation the framer is dead (every later push returns the same violation):
 * the shell closes the connection.
 */
export class Framer {
  private parts: Buffer[] = [];
  private buffered = 0;
  private header: FrameHeader | undefined;
  private headerBuf: Buffer | undefined;
  private dead: FrameViolation | undefined;

  constructor(private readonly maxBodyBytes = DEFAULT_MAX_BODY_BYTES) {}

  /** Frames completed by `chunk`, in order; a violation ends the list. */
  push(chunk: Buffer): Array<Frame | FrameViolation> {
    if (this.dead) return [this.dead];
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Array<Frame | FrameViolation> = [];
    for (;;) {
      const next = this.next();
      if (next === undefined) break;
      out.push(next);
      if (isFrameViolation(next)) {
        this.dead = next;
        break;
      }
    }
    return out;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private next(): Frame | FrameViolation | undefined {
    if (!this.header) {
      if (this.buffered < HEADER_BYTES) return undefined;
      const hb = this.take(HEADER_BYTES, true);
      const h = decodeHeader(hb, this.maxBodyBytes);
      if (isFrameViolation(h)) return h;
      this.header = h;
      this.headerBuf = hb;
    }
    if (this.buffered < this.header.bodyLength) return undefined;
    const body = this.take(this.header.bodyLength, false);
    const bad = checkCrc(this.headerBuf!, body);
    const frame = { ...this.header, body };
    this.header = undefined;
    this.headerBuf = undefined;
    return bad ?? frame;
  }

  /** Remove n bytes from the front; a view when they sit in one part. */
  private take(n: number, copy: boolean): Buffer {
    this.buffered -= n;
    const first = this.parts[0];
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length >= n) {
      const view = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      return copy ? Buffer.from(view) : view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const p = this.parts[0]!;
      const k = Math.min(p.length, n - filled);
      p.copy(out, filled, 0, k);
      filled += k;
      if (k === p.length) this.parts.shift();
      else this.parts[0] = p.subarray(k);
    }
    return out;
  }
}
