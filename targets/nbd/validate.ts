/**
 * Request validation, done once in the core before any device call
 * (proto.md "Request types", "Error values", "Size constraints"). Pure.
 */
import type { BlockErrorKind } from '../../src/block/device.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_PAYLOAD_LEN,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_ENOTSUP,
  NBD_EOVERFLOW,
  NBD_EPERM,
  NBD_ESHUTDOWN,
  NBD_FLAG_BLOCK_STATUS_PAYLOAD,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './constants.js';
import type { ReplyMode } from './replies.js';
import type { RequestHeader } from './wire.js';

export interface TransmissionContext {
  transmissionFlags: number;
  sizeBytes: number;
  minBlockBytes: number;
  maxPayloadBytes: number;
  replyMode: ReplyMode;
  metaContextIds: number[];
}

export interface ValidRequest {
  type: number;
  flags: number;
  offsetBytes: number;
  /** Payload length for WRITE, effect length otherwise. */
  lengthBytes: number;
  /** BLOCK_STATUS only: the contexts to answer for. */
  contextIds: number[];
}

export type Validation = { ok: true; req: ValidRequest } | { ok: false; errno: number; message: string };

const fail = (errno: number, message: string): Validation => ({ ok: false, errno, message });

/** Command flags documented for each command (FUA and PAYLOAD_LEN are checked separately). */
const COMMAND_FLAGS: Record<number, number> = {
  [NBD_CMD_READ]: NBD_CMD_FLAG_DF,
  [NBD_CMD_WRITE]: 0,
  [NBD_CMD_FLUSH]: 0,
  [NBD_CMD_TRIM]: 0,
  [NBD_CMD_CACHE]: 0,
  [NBD_CMD_WRITE_ZEROES]: NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO,
  [NBD_CMD_BLOCK_STATUS]: NBD_CMD_FLAG_REQ_ONE,
};

/** Commands that modify the export (EPERM on a read-only export). */
const WRITES = new Set([NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES]);

function checkFlags(h: RequestHeader, ctx: TransmissionContext): Validation | undefined {
  const tf = ctx.transmissionFlags;
  let allowed = COMMAND_FLAGS[h.type]!;
  if (tf & NBD_FLAG_SEND_FUA) allowed |= NBD_CMD_FLAG_FUA;
  if (!(tf & NBD_FLAG_SEND_DF)) allowed &= ~NBD_CMD_FLAG_DF;
  if (!(tf & NBD_FLAG_SEND_FAST_ZERO)) allowed &= ~NBD_CMD_FLAG_FAST_ZERO;
  if (ctx.replyMode === 'extended') {
    if (h.type === NBD_CMD_WRITE) allowed |= NBD_CMD_FLAG_PAYLOAD_LEN;
    if (h.type === NBD_CMD_BLOCK_STATUS && tf & NBD_FLAG_BLOCK_STATUS_PAYLOAD) allowed |= NBD_CMD_FLAG_PAYLOAD_LEN;
    if (h.type === NBD_CMD_WRITE && !(h.flags & NBD_CMD_FLAG_PAYLOAD_LEN)) {
      return fail(NBD_EINVAL, 'NBD_CMD_WRITE without NBD_CMD_FLAG_PAYLOAD_LEN');
    }
  }
  if (h.flags & ~allowed) return fail(NBD_EINVAL, `command flags 0x${h.flags.toString(16)} not valid here`);
  return undefined;
}

/** Which commands the export accepts at all, from the transmission flags. */
function checkSupported(type: number, ctx: TransmissionContext): Validation | undefined {
  const tf = ctx.transmissionFlags;
  if (WRITES.has(type) && tf & NBD_FLAG_READ_ONLY) return fail(NBD_EPERM, 'export is read-only');
  if (type === NBD_CMD_TRIM && !(tf & NBD_FLAG_SEND_TRIM)) return fail(NBD_EINVAL, 'NBD_CMD_TRIM not supported');
  if (type === NBD_CMD_WRITE_ZEROES && !(tf & NBD_FLAG_SEND_WRITE_ZEROES)) return fail(NBD_EINVAL, 'NBD_CMD_WRITE_ZEROES not supported');
  if (type === NBD_CMD_BLOCK_STATUS && ctx.metaContextIds.length === 0) {
    return fail(NBD_EINVAL, 'NBD_CMD_BLOCK_STATUS without a selected metadata context');
  }
  return undefined;
}

/** ext-header: BLOCK_STATUS payload = 64-bit effect length + n x 32-bit context ids. */
function statusPayload(payload: Buffer, ctx: TransmissionContext): { length: bigint; ids: number[] } | undefined {
  if (payload.length < 12 || (payload.length - 8) % 4 !== 0) return undefined;
  const ids: number[] = [];
  for (let at = 8; at < payload.length; at += 4) {
    const id = payload.readUInt32BE(at);
    if (!ctx.metaContextIds.includes(id) || ids.includes(id)) return undefined;
    ids.push(id);
  }
  return { length: payload.readBigUInt64BE(0), ids };
}

/**
 * Validate one request (not NBD_CMD_DISC, which has no reply).
 * `payloadDiscarded`: the framer skipped an oversized payload.
 */
export function validateRequest(h: RequestHeader, payload: Buffer | undefined, payloadDiscarded: boolean, ctx: TransmissionContext): Validation {
  if (COMMAND_FLAGS[h.type] === undefined || h.type === NBD_CMD_DISC) return fail(NBD_EINVAL, `unknown command ${h.type}`);
  const flagErr = checkFlags(h, ctx);
  if (flagErr) return flagErr;
  if (payloadDiscarded) return fail(NBD_EINVAL, 'payload exceeds the maximum payload size');
  if (payload && h.type !== NBD_CMD_WRITE && h.type !== NBD_CMD_BLOCK_STATUS) return fail(NBD_EINVAL, 'unexpected payload');
  const supErr = checkSupported(h.type, ctx);
  if (supErr) return supErr;
  let length = h.length;
  let contextIds = h.type === NBD_CMD_BLOCK_STATUS ? ctx.metaContextIds : [];
  if (h.type === NBD_CMD_BLOCK_STATUS && payload) {
    const p = statusPayload(payload, ctx);
    if (!p) return fail(NBD_EINVAL, 'invalid NBD_CMD_BLOCK_STATUS payload');
    length = p.length;
    contextIds = p.ids;
  }
  if (h.type === NBD_CMD_FLUSH) {
    if (h.offset !== 0n || length !== 0n) return fail(NBD_EINVAL, 'NBD_CMD_FLUSH with nonzero offset or length');
    return { ok: true, req: { type: h.type, flags: h.flags, offsetBytes: 0, lengthBytes: 0, contextIds } };
  }
  return checkRange(h, length, contextIds, ctx);
}

function checkRange(h: RequestHeader, length: bigint, contextIds: number[], ctx: TransmissionContext): Validation {
  const size = BigInt(ctx.sizeBytes);
  if (h.offset + length > size || h.offset > size) {
    const writing = h.type === NBD_CMD_WRITE || h.type === NBD_CMD_WRITE_ZEROES;
    return fail(writing ? NBD_ENOSPC : NBD_EINVAL, 'request beyond the end of the export');
  }
  const offsetBytes = Number(h.offset);
  const lengthBytes = Number(length);
  const min = ctx.minBlockBytes;
  // BLOCK_STATUS length is only a hint; its offset must still be aligned.
  if (offsetBytes % min !== 0 || (h.type !== NBD_CMD_BLOCK_STATUS && lengthBytes % min !== 0)) {
    return fail(NBD_EINVAL, `request not aligned to the ${min}-byte minimum block size`);
  }
  if (h.type === NBD_CMD_BLOCK_STATUS && lengthBytes === 0) return fail(NBD_EINVAL, 'zero-length NBD_CMD_BLOCK_STATUS');
  if (h.type === NBD_CMD_READ && lengthBytes > ctx.maxPayloadBytes) {
    // EOVERFLOW only where documented: reads with DF (or any read with reply chunks).
    return fail(ctx.replyMode === 'simple' ? NBD_EINVAL : NBD_EOVERFLOW, 'read longer than the maximum payload size');
  }
  return { ok: true, req: { type: h.type, flags: h.flags, offsetBytes, lengthBytes, contextIds } };
}

const ERRNO_OF_KIND: Record<BlockErrorKind, number> = {
  EIO: NBD_EIO,
  ENOSPC: NBD_ENOSPC,
  EROFS: NBD_EPERM,
  EPERM: NBD_EPERM,
  EINVAL: NBD_EINVAL,
  ENOTSUP: NBD_EINVAL,
  ESHUTDOWN: NBD_ESHUTDOWN,
  EOVERFLOW: NBD_EINVAL,
  ETIMEDOUT: NBD_EIO,
};

/**
 * Map a backend BlockError kind to an NBD error, considering the request
 * (as nbdkit's nbd_errno): ENOTSUP only for a FAST_ZERO write-zeroes and
 * EOVERFLOW only for a DF read, as proto.md "Error values" asks.
 */
export function nbdErrno(kind: BlockErrorKind, type: number, flags: number): number {
  if (kind === 'ENOTSUP' && type === NBD_CMD_WRITE_ZEROES && flags & NBD_CMD_FLAG_FAST_ZERO) return NBD_ENOTSUP;
  if (kind === 'EOVERFLOW' && type === NBD_CMD_READ && flags & NBD_CMD_FLAG_DF) return NBD_EOVERFLOW;
  return ERRNO_OF_KIND[kind] ?? NBD_EIO;
}
