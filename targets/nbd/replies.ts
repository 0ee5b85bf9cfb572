/**
 * Builders for transmission replies in the three negotiated styles
 * (proto.md "Simple reply message", "Structured reply chunk message",
 * "Extended reply chunk message"). Pure: each returns the Buffers to write,
 * in order; payload Buffers given in are passed through, never copied.
 */
import {
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
} from './constants.js';
import { SIMPLE_REPLY_BYTES, chunkHeaderBytes, encodeChunkHeader, encodeSimpleReply, writeChunkHeader, writeSimpleReply, type ChunkStyle } from './wire.js';

export type ReplyMode = 'simple' | 'structured' | 'extended';

/** What every reply to one request shares. */
export interface ReplyTo {
  mode: ReplyMode;
  cookie: bigint;
  /** The request's offset (echoed by extended replies). */
  offset: bigint;
}

function style(r: ReplyTo): ChunkStyle {
  return r.mode === 'extended' ? 'extended' : 'structured';
}

function chunk(r: ReplyTo, type: number, done: boolean, length: number, extra: number): Buffer {
  return encodeChunkHeader(
    style(r),
    { flags: done ? NBD_REPLY_FLAG_DONE : 0, type, cookie: r.cookie, requestOffset: r.offset, length },
    extra,
  );
}

/** Success without payload. Structured mode may use a simple reply (proto.md); extended may not. */
export function buildDone(r: ReplyTo): Buffer[] {
  if (r.mode !== 'extended') return [encodeSimpleReply(r.cookie, 0)];
  return [chunk(r, NBD_REPLY_TYPE_NONE, true, 0, 0)];
}

/**
 * A failed request. Simple mode: the errno only. Otherwise an
 * NBD_REPLY_TYPE_ERROR chunk carrying `message` (<= 4096 bytes, truncated).
 */
export function buildError(r: ReplyTo, errno: number, message: string): Buffer[] {
  if (r.mode === 'simple') return [encodeSimpleReply(r.cookie, errno)];
  const msg = Buffer.from(message, 'utf8').subarray(0, 4096);
  const h = chunk(r, NBD_REPLY_TYPE_ERROR, true, 6 + msg.length, 6 + msg.length);
  const at = chunkHeaderBytes(style(r));
  h.writeUInt32BE(errno, at);
  h.writeUInt16BE(msg.length, at + 4);
  msg.copy(h, at + 6);
  return [h];
}

/** Read data at absolute `dataOffset`; in simple mode the whole read in one reply. */
export function buildReadData(r: ReplyTo, dataOffset: number, data: Buffer, done: boolean): Buffer[] {
  const h = Buffer.allocUnsafe(readReplyHeadroom(r.mode));
  writeReadReplyHead(h, r, dataOffset, data.length, done);
  return data.length ? [h, data] : [h];
}

/**
 * A whole read reply in one buffer: the data is read straight in behind
 * room for the header (`readReplyHeadroom`), then `writeReadReplyHead`
 * fills the room; one allocation and one socket write per reply.
 */
export function readReplyHeadroom(mode: ReplyMode): number {
  return mode === 'simple' ? SIMPLE_REPLY_BYTES : chunkHeaderBytes(mode === 'extended' ? 'extended' : 'structured') + 8;
}

/** Header of the reply (chunk) whose `lengthBytes` of data sit in `b` after `readReplyHeadroom` bytes. */
export function writeReadReplyHead(b: Buffer, r: ReplyTo, dataOffset: number, lengthBytes: number, done = true): void {
  if (r.mode === 'simple') return writeSimpleReply(b, r.cookie, 0);
  const st = style(r);
  writeChunkHeader(b, st, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, r.cookie, r.offset, 8 + lengthBytes);
  b.writeBigUInt64BE(BigInt(dataOffset), chunkHeaderBytes(st));
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: `lengthBytes` (> 0, < 2^32) of zeroes at `holeOffset`. */
export function buildReadHole(r: ReplyTo, holeOffset: number, lengthBytes: number, done: boolean): Buffer[] {
  const h = chunk(r, NBD_REPLY_TYPE_OFFSET_HOLE, done, 12, 12);
  const at = chunkHeaderBytes(style(r));
  h.writeBigUInt64BE(BigInt(holeOffset), at);
  h.writeUInt32BE(lengthBytes, at + 8);
  return [h];
}

/** The final NBD_REPLY_TYPE_NONE chunk. */
export function buildNone(r: ReplyTo): Buffer[] {
  return [chunk(r, NBD_REPLY_TYPE_NONE, true, 0, 0)];
}

export interface StatusDescriptor {
  lengthBytes: number;
  flags: number;
}

/**
 * One status chunk for one metadata context: NBD_REPLY_TYPE_BLOCK_STATUS
 * (32-bit lengths) with structured replies, NBD_REPLY_TYPE_BLOCK_STATUS_EXT
 * with extended headers. Descriptors must be non-empty, lengths nonzero and,
 * in structured mode, < 2^32.
 */
export function buildBlockStatus(r: ReplyTo, contextId: number, descs: StatusDescriptor[], done: boolean): Buffer[] {
  if (r.mode === 'extended') {
    const len = 8 + 16 * descs.length;
    const h = chunk(r, NBD_REPLY_TYPE_BLOCK_STATUS_EXT, done, len, len);
    let at = chunkHeaderBytes('extended');
    h.writeUInt32BE(contextId, at);
    h.writeUInt32BE(descs.length, at + 4);
    at += 8;
    for (const d of descs) {
      h.writeBigUInt64BE(BigInt(d.lengthBytes), at);
      h.writeBigUInt64BE(BigInt(d.flags), at + 8);
      at += 16;
    }
    return [h];
  }
  const len = 4 + 8 * descs.length;
  const h = chunk(r, NBD_REPLY_TYPE_BLOCK_STATUS, done, len, len);
  let at = chunkHeaderBytes('structured');
  h.writeUInt32BE(contextId, at);
  at += 4;
  for (const d of descs) {
    h.writeUInt32BE(d.lengthBytes, at);
    h.writeUInt32BE(d.flags, at + 4);
    at += 8;
  }
  return [h];
}
