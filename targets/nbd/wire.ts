/**
 * Pure server-side codec for the NBD wire (proto.md "Handshake",
 * "Transmission", extended headers per extension-ext-header).
 *
 * Decoders take a Buffer that holds at least the fixed part they decode and
 * return `{ ok: true, value }` or `{ ok: false, violation }`; they never
 * throw. Encoders return fresh Buffers (or, for data replies, only the
 * header, so the caller can write the payload without copying it).
 */
import {
  IHAVEOPT,
  MAX_STRING_BYTES,
  NBD_EXTENDED_REPLY_MAGIC,
  NBD_EXTENDED_REQUEST_MAGIC,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBDMAGIC,
  NBD_OPT_REPLY_MAGIC,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
} from './constants.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; violation: string };

const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
const bad = <T>(violation: string): Decoded<T> => ({ ok: false, violation });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** proto.md "Conventions": UTF-8, no NUL, at most 4096 bytes. */
export function decodeString(buf: Buffer): Decoded<string> {
  if (buf.length > MAX_STRING_BYTES) return bad('string longer than 4096 bytes');
  if (buf.includes(0)) return bad('string contains NUL');
  try {
    return ok(utf8.decode(buf));
  } catch {
    return bad('string is not valid UTF-8');
  }
}

// ---------------------------------------------------------------- handshake

export const GREETING_BYTES = 18;
export const CLIENT_FLAGS_BYTES = 4;
export const OPTION_HEADER_BYTES = 16;

/** S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(GREETING_BYTES);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export interface OptionHeader {
  option: number;
  length: number;
}

/** C: IHAVEOPT, 32-bit option, 32-bit data length. `buf` holds >= 16 bytes. */
export function decodeOptionHeader(buf: Buffer): Decoded<OptionHeader> {
  if (buf.length < OPTION_HEADER_BYTES) return bad('short option header');
  if (buf.readBigUInt64BE(0) !== IHAVEOPT) return bad('bad option magic');
  return ok({ option: buf.readUInt32BE(8), length: buf.readUInt32BE(12) });
}

/** S: reply magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Buffer = EMPTY): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(NBD_OPT_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, 20);
  return b;
}

const EMPTY = Buffer.alloc(0);

/** NBD_REP_SERVER data: 32-bit name length, name, optional description. */
export function encodeRepServer(name: string, description = ''): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description, 'utf8');
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

/** NBD_REP_META_CONTEXT data: 32-bit context id, name. */
export function encodeRepMetaContext(id: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length);
  b.writeUInt32BE(id, 0);
  n.copy(b, 4);
  return b;
}

export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  b.writeBigUInt64BE(BigInt(sizeBytes), 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

export function encodeInfoString(type: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION, s: string): Buffer {
  const v = Buffer.from(s, 'utf8');
  const b = Buffer.alloc(2 + v.length);
  b.writeUInt16BE(type, 0);
  v.copy(b, 2);
  return b;
}

export interface BlockSizes {
  minBlockBytes: number;
  preferredBlockBytes: number;
  maxPayloadBytes: number;
}

export function encodeInfoBlockSize(s: BlockSizes): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(s.minBlockBytes, 2);
  b.writeUInt32BE(s.preferredBlockBytes, 6);
  b.writeUInt32BE(s.maxPayloadBytes, 10);
  return b;
}

/** Reply to NBD_OPT_EXPORT_NAME: size, flags, 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(sizeBytes), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

export interface InfoRequest {
  name: string;
  infos: number[];
}

/** NBD_OPT_INFO / NBD_OPT_GO data: 32-bit name length, name, 16-bit count, count x 16-bit types. */
export function decodeInfoRequest(data: Buffer): Decoded<InfoRequest> {
  if (data.length < 6) return bad('INFO/GO data shorter than 6 bytes');
  const nameLen = data.readUInt32BE(0);
  if (nameLen > data.length - 6) return bad('INFO/GO name length exceeds option length');
  const name = decodeString(data.subarray(4, 4 + nameLen));
  if (!name.ok) return name;
  const count = data.readUInt16BE(4 + nameLen);
  if (data.length !== 6 + nameLen + 2 * count) return bad('INFO/GO information request count mismatches option length');
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + nameLen + 2 * i));
  return ok({ name: name.value, infos });
}

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

/** NBD_OPT_{LIST,SET}_META_CONTEXT data: name, 32-bit count, count x (32-bit length, query). */
export function decodeMetaContextRequest(data: Buffer, maxQueries: number): Decoded<MetaContextRequest> {
  if (data.length < 8) return bad('META_CONTEXT data shorter than 8 bytes');
  const nameLen = data.readUInt32BE(0);
  if (nameLen > data.length - 8) return bad('META_CONTEXT name length exceeds option length');
  const name = decodeString(data.subarray(4, 4 + nameLen));
  if (!name.ok) return name;
  const count = data.readUInt32BE(4 + nameLen);
  if (count > maxQueries) return bad('too many META_CONTEXT queries');
  const queries: string[] = [];
  let pos = 8 + nameLen;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > data.length) return bad('META_CONTEXT query length beyond option data');
    const len = data.readUInt32BE(pos);
    if (len > data.length - pos - 4) return bad('META_CONTEXT query beyond option data');
    const q = decodeString(data.subarray(pos + 4, pos + 4 + len));
    if (!q.ok) return q;
    queries.push(q.value);
    pos += 4 + len;
  }
  if (pos !== data.length) return bad('trailing bytes after META_CONTEXT queries');
  return ok({ name: name.value, queries });
}

// ------------------------------------------------------------- transmission

export const COMPACT_REQUEST_BYTES = 28;
export const EXTENDED_REQUEST_BYTES = 32;

export interface RequestHeader {
  flags: number;
  type: number;
  cookie: bigint;
  offset: bigint;
  /** Compact: 32-bit length; extended: 64-bit payload or effect length. */
  length: bigint;
}

/** Decode one request header; `buf` holds at least the header size for the mode. */
export function decodeRequestHeader(buf: Buffer, extended: boolean): Decoded<RequestHeader> {
  const size = extended ? EXTENDED_REQUEST_BYTES : COMPACT_REQUEST_BYTES;
  if (buf.length < size) return bad('short request header');
  const magic = buf.readUInt32BE(0);
  const want = extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC;
  if (magic !== want) return bad(`bad request magic 0x${magic.toString(16)}`);
  return ok({
    flags: buf.readUInt16BE(4),
    type: buf.readUInt16BE(6),
    cookie: buf.readBigUInt64BE(8),
    offset: buf.readBigUInt64BE(16),
    length: extended ? buf.readBigUInt64BE(24) : BigInt(buf.readUInt32BE(24)),
  });
}

export const SIMPLE_REPLY_BYTES = 16;
export const STRUCTURED_CHUNK_BYTES = 20;
export const EXTENDED_CHUNK_BYTES = 32;

/** S: simple reply magic, error, cookie (payload, if any, follows separately). */
export function encodeSimpleReply(cookie: bigint, error: number): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  writeSimpleReply(b, cookie, error);
  return b;
}

/** The simple reply header into the first 16 bytes of `b` (a reply built in one buffer). */
export function writeSimpleReply(b: Buffer, cookie: bigint, error: number): void {
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.writeBigUInt64BE(cookie, 8);
}

export type ChunkStyle = 'structured' | 'extended';

export interface ChunkHeader {
  flags: number;
  type: number;
  cookie: bigint;
  /** The request's offset; only carried by extended replies. */
  requestOffset: bigint;
  length: number;
}

/**
 * Structured (20 bytes) or extended (32 bytes) chunk header; `extra` bytes
 * of room are left after it so that small fixed payload fields can be
 * written into the same buffer.
 */
export function encodeChunkHeader(style: ChunkStyle, h: ChunkHeader, extra = 0): Buffer {
  const b = Buffer.allocUnsafe(chunkHeaderBytes(style) + extra);
  writeChunkHeader(b, style, h.flags, h.type, h.cookie, h.requestOffset, h.length);
  return b;
}

/** A chunk header into the start of `b`; positional, for replies built in place. */
export function writeChunkHeader(
  b: Buffer,
  style: ChunkStyle,
  flags: number,
  type: number,
  cookie: bigint,
  requestOffset: bigint,
  length: number,
): void {
  b.writeUInt32BE(style === 'structured' ? NBD_STRUCTURED_REPLY_MAGIC : NBD_EXTENDED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  if (style === 'structured') {
    b.writeUInt32BE(length, 16);
    return;
  }
  b.writeBigUInt64BE(requestOffset, 16);
  b.writeBigUInt64BE(BigInt(length), 24);
}

export function chunkHeaderBytes(style: ChunkStyle): number {
  return style === 'structured' ? STRUCTURED_CHUNK_BYTES : EXTENDED_CHUNK_BYTES;
}
