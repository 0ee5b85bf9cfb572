/**
 * Execution of validated requests against the LUN's device, one handler
 * per command (proto.md "Request types"). Each returns the reply Buffers;
 * device errors become error replies through `nbdErrno`. Nothing is sent
 * before the device completed, so a simple READ reply never needs the
 * "error after header" hard disconnect.
 */
import type { BufferPool } from '../../src/block/buffer-pool.js';
import { BlockError, toBlockError, type BlockDevice, type Extent } from '../../src/block/device.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
} from './constants.js';
import {
  buildBlockStatus,
  buildDone,
  buildError,
  buildNone,
  buildReadData,
  buildReadHole,
  type ReplyTo,
  type StatusDescriptor,
} from './replies.js';
import { nbdErrno, type ValidRequest } from './validate.js';
import { zeroRuns } from './zero-runs.js';

/** Reads at least this long send their zero runs as holes when reply chunks are allowed. */
export const SPARSE_READ_MIN_BYTES = 64 * 1024;
/** Zero runs are found at this granularity (or the minimum block size, if larger). */
const ZERO_GRANULE_BYTES = 64 * 1024;
/** proto.md: SHOULD NOT send more than 2^20 descriptors per chunk. */
const MAX_DESCRIPTORS = 1 << 20;
/**
 * Extents asked of the device per BLOCK_STATUS reply (one with REQ_ONE).
 * A reply may cover less than the request (the client asks again from
 * where it ends); walking a fragmented file to the end of a 4 GiB query
 * costs two threadpool lseeks per data run.
 */
const STATUS_EXTENTS_PER_REPLY = 1024;

export interface ExecContext {
  device: BlockDevice;
  minBlockBytes: number;
  /** Large reads borrow their buffer from here (the connection gives it back once written). */
  pool?: BufferPool;
}

export interface ExecResult {
  reply: Buffer[];
  ok: boolean;
  /** The pooled buffer the reply's data points into: give it back once the reply is written. */
  lease?: Buffer;
}

type Exec = (x: ExecContext, req: ValidRequest, payload: Buffer | undefined, r: ReplyTo) => Promise<Buffer[]>;

const EXECUTORS: Record<number, Exec> = {
  [NBD_CMD_READ]: (x, req, _p, r) => execRead(x, req, r, undefined),
  [NBD_CMD_WRITE]: async (x, req, payload, r) => {
    if (req.lengthBytes > 0) await x.device.write(req.offsetBytes, payload!, { fua: fua(req) });
    return buildDone(r);
  },
  [NBD_CMD_FLUSH]: async (x, _req, _p, r) => {
    await x.device.flush();
    return buildDone(r);
  },
  [NBD_CMD_TRIM]: execTrim,
  [NBD_CMD_CACHE]: async (_x, _req, _p, r) => buildDone(r), // advisory; bounds were validated
  [NBD_CMD_WRITE_ZEROES]: execWriteZeroes,
  [NBD_CMD_BLOCK_STATUS]: execBlockStatus,
};

const fua = (req: ValidRequest): boolean => (req.flags & NBD_CMD_FLAG_FUA) !== 0;

/** Run one validated request; never rejects (errors become error replies). */
export async function execute(x: ExecContext, req: ValidRequest, payload: Buffer | undefined, r: ReplyTo): Promise<ExecResult> {
  try {
    const into = req.type === NBD_CMD_READ ? x.pool?.take(req.lengthBytes) : undefined;
    if (into) return { reply: await execRead(x, req, r, into), ok: true, lease: into };
    return { reply: await EXECUTORS[req.type]!(x, req, payload, r), ok: true };
  } catch (err) {
    const e = toBlockError(err);
    return { reply: buildError(r, nbdErrno(e.kind, req.type, req.flags), e.message), ok: false };
  }
}

async function execTrim(x: ExecContext, req: ValidRequest, _p: Buffer | undefined, r: ReplyTo): Promise<Buffer[]> {
  if (req.lengthBytes === 0 || !x.device.info.canDiscard) return buildDone(r);
  try {
    await x.device.discard(req.offsetBytes, req.lengthBytes);
  } catch (err) {
    // TRIM is a hint (proto.md NBD_CMD_TRIM): a device that cannot discard just ignores it.
    if (toBlockError(err).kind !== 'ENOTSUP') throw err;
    return buildDone(r);
  }
  if (fua(req)) await x.device.flush();
  return buildDone(r);
}

async function execWriteZeroes(x: ExecContext, req: ValidRequest, _p: Buffer | undefined, r: ReplyTo): Promise<Buffer[]> {
  // FAST_ZERO: fail at once unless zeroing is cheaper than writing (proto.md NBD_CMD_WRITE_ZEROES).
  if (req.flags & NBD_CMD_FLAG_FAST_ZERO && !x.device.info.canWriteZeroes) {
    throw new BlockError('ENOTSUP', 'write zeroes is not faster than a write on this device');
  }
  if (req.lengthBytes > 0) {
    await x.device.writeZeroes(req.offsetBytes, req.lengthBytes, {
      fua: fua(req),
      mayDeallocate: !(req.flags & NBD_CMD_FLAG_NO_HOLE),
    });
  }
  return buildDone(r);
}

/**
 * Simple replies: one read. Reply chunks: zero runs become OFFSET_HOLE
 * chunks unless DF. `into` (pooled) is offered to the device; the reply
 * may point into it.
 */
async function execRead(x: ExecContext, req: ValidRequest, r: ReplyTo, into: Buffer | undefined): Promise<Buffer[]> {
  const { offsetBytes: off, lengthBytes: len } = req;
  if (len === 0) return r.mode === 'simple' ? buildDone(r) : buildNone(r);
  const data = await x.device.read(off, len, into);
  const sparse = r.mode !== 'simple' && !(req.flags & NBD_CMD_FLAG_DF) && len >= SPARSE_READ_MIN_BYTES;
  if (!sparse) return buildReadData(r, off, data, true);
  const runs = zeroRuns(data, Math.max(ZERO_GRANULE_BYTES, x.minBlockBytes));
  if (runs.length === 1 && !runs[0]!.zero) return buildReadData(r, off, data, true);
  const out: Buffer[] = [];
  runs.forEach((run, i) => {
    const done = i === runs.length - 1;
    const at = off + run.start;
    out.push(...(run.zero ? buildReadHole(r, at, run.end - run.start, done) : buildReadData(r, at, data.subarray(run.start, run.end), done)));
  });
  return out;
}

/** One status chunk per requested context (only base:allocation exists). */
async function execBlockStatus(x: ExecContext, req: ValidRequest, _p: Buffer | undefined, r: ReplyTo): Promise<Buffer[]> {
  const size = x.device.info.sizeBytes;
  // Compact descriptors carry 32-bit lengths: cap the query below 4 GiB, block-aligned.
  const cap = r.mode === 'extended' ? Number.MAX_SAFE_INTEGER : Math.floor(0xffffffff / x.minBlockBytes) * x.minBlockBytes;
  const qlen = Math.min(req.lengthBytes, size - req.offsetBytes, cap);
  if (qlen <= 0) throw new BlockError('EINVAL', 'block status beyond the end of the device');
  let descs: StatusDescriptor[];
  if (!x.device.info.canBlockStatus) descs = [{ lengthBytes: qlen, flags: 0 }];
  else descs = toDescriptors(await x.device.blockStatus(req.offsetBytes, qlen, req.flags & NBD_CMD_FLAG_REQ_ONE ? 1 : STATUS_EXTENTS_PER_REPLY));
  if (descs.length === 0) descs = [{ lengthBytes: qlen, flags: 0 }];
  if (req.flags & NBD_CMD_FLAG_REQ_ONE) descs = [{ lengthBytes: Math.min(descs[0]!.lengthBytes, req.lengthBytes), flags: descs[0]!.flags }];
  if (descs.length > MAX_DESCRIPTORS) descs = descs.slice(0, MAX_DESCRIPTORS);
  const out: Buffer[] = [];
  req.contextIds.forEach((id, i) => out.push(...buildBlockStatus(r, id, descs, i === req.contextIds.length - 1)));
  return out;
}

function toDescriptors(extents: Extent[]): StatusDescriptor[] {
  const out: StatusDescriptor[] = [];
  for (const e of extents) {
    if (e.lengthBytes <= 0) continue;
    const flags = (e.hole ? NBD_STATE_HOLE : 0) | (e.zero ? NBD_STATE_ZERO : 0);
    const last = out[out.length - 1];
    if (last && last.flags === flags) last.lengthBytes += e.lengthBytes;
    else out.push({ lengthBytes: e.lengthBytes, flags });
  }
  return out;
}

/** Stats bucket and byte count of one request. */
export function statsOf(req: ValidRequest): { op: 'read' | 'write' | 'other'; bytes: number } {
  if (req.type === NBD_CMD_READ) return { op: 'read', bytes: req.lengthBytes };
  if (req.type === NBD_CMD_WRITE) return { op: 'write', bytes: req.lengthBytes };
  return { op: 'other', bytes: 0 };
}
