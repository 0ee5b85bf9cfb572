/**
 * SBC read/write family: READ/WRITE 6/10/12/16, VERIFY and WRITE AND VERIFY
 * 10/12/16, ORWRITE(16), PRE-FETCH 10/16, SYNCHRONIZE CACHE 10/16.
 * The hot path (READ/WRITE) decodes with readUInt*BE and does no
 * allocations beyond the data buffer.
 */
import { SEND_FROM_DEVICE_MIN_BYTES } from '../../../src/block/device.js';
import { checkCondition, GOOD, type Ctx, type Reply } from '../command.js';
import {
  decodeLbaRange,
  deviceOp,
  type LbaRange,
  firstMismatch,
  isReply,
  maxTransferBlocks,
  readBlocks,
  readBlocksNow,
  validateRange,
  writeBlocks,
  writeBlocksNow,
} from '../io.js';
import { invalidFieldInCdb, LBA_OUT_OF_RANGE, miscompare, WRITE_PROTECTED } from '../sense.js';

/** RDPROTECT/WRPROTECT/VRPROTECT (byte 1 bits 7..5) need protection information, which we do not format. */
function protectField(cdb: Buffer): Reply | undefined {
  return cdb.length > 6 && cdb[1]! & 0xe0 ? checkCondition(invalidFieldInCdb(1, 5)) : undefined;
}

/** The checks READ, WRITE and ORWRITE start with, in this order: PROTECT field, LBA range, write protection. */
function checkedRange(ctx: Ctx, writing: boolean): LbaRange | Reply {
  const { cdb, lu } = ctx;
  const bad = protectField(cdb);
  if (bad) return bad;
  const r = decodeLbaRange(cdb);
  const invalid = validateRange(lu, cdb, r);
  if (invalid) return invalid;
  if (writing && lu.readOnly) return checkCondition(WRITE_PROTECTED);
  return r;
}

/**
 * Synchronous when the data came from the page cache (readBlocksNow), or
 * when a large read is left for the transport to send from the device.
 */
export function read(ctx: Ctx): Reply | Promise<Reply> {
  const { lu } = ctx;
  const r = checkedRange(ctx, false);
  if ('status' in r) return r;
  if (r.blocks === 0) return GOOD;
  // Read no more than the initiator will take (residual overflow).
  const bs = lu.blockSize;
  const want = Math.min(r.blocks, Math.ceil(ctx.cmd.expectedLength / bs));
  if (want === 0) return GOOD;
  const now = readBlocksNow(lu, r.lba, want);
  if (now) return readReply(ctx, now);
  if (ctx.cmd.canSendFromDevice && want * bs >= SEND_FROM_DEVICE_MIN_BYTES && lu.handle.device.sendTo) {
    const lba = r.lba;
    return { status: 0, dataInFrom: { offsetBytes: lba * bs, lengthBytes: want * bs, read: () => readLater(ctx, lba, want) } };
  }
  return readLater(ctx, r.lba, want);
}

async function readLater(ctx: Ctx, lba: number, blocks: number): Promise<Reply> {
  const data = await readBlocks(ctx.lu, lba, blocks);
  return isReply(data) ? data : readReply(ctx, data);
}

function readReply(ctx: Ctx, data: Buffer): Reply {
  return { status: 0, dataIn: data.length > ctx.cmd.expectedLength ? data.subarray(0, ctx.cmd.expectedLength) : data };
}

/**
 * Data-out shorter than the CDB implies (an overflow: EDTL < transfer length)
 * writes only the whole blocks received, as tgt and LIO do; libiscsi's
 * residual tests check the blocks past them stay untouched.
 */
function receivedBlocks(ctx: Ctx, blocks: number): Buffer | undefined {
  const bs = ctx.lu.blockSize;
  const out = ctx.cmd.dataOut;
  if (!out) return undefined;
  const n = Math.min(blocks, Math.floor(out.length / bs));
  return n === 0 ? undefined : out.subarray(0, n * bs);
}

/** Synchronous for a buffered write the device did at once (writeBlocksNow). */
export function write(ctx: Ctx): Reply | Promise<Reply> {
  const { cdb, lu } = ctx;
  const r = checkedRange(ctx, true);
  if ('status' in r) return r;
  if (r.blocks === 0) return GOOD;
  const data = receivedBlocks(ctx, r.blocks);
  if (!data) return GOOD;
  const fua = cdb.length > 6 && (cdb[1]! & 0x08) !== 0;
  if (!fua && writeBlocksNow(lu, r.lba, data)) return GOOD;
  return writeBlocks(lu, r.lba, data, fua);
}

/** WRITE AND VERIFY: the write is made durable (FUA) so the verify step is meaningful. */
export async function writeAndVerify(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const bad = protectField(cdb);
  if (bad) return bad;
  if ((cdb[1]! & 0x06) === 0x04) return checkCondition(invalidFieldInCdb(1, 1)); // BYTCHK=10b reserved
  const r = decodeLbaRange(cdb);
  const invalid = validateRange(lu, cdb, r);
  if (invalid) return invalid;
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  const data = receivedBlocks(ctx, r.blocks);
  if (!data) return GOOD;
  return writeBlocks(lu, r.lba, data, true);
}

/** BYTCHK (byte 1 bits 2..1), sbc4r15 5.31 table 110. */
function verifyXfer(cdb: Buffer, blocks: number, bs: number): number {
  const bytchk = (cdb[1]! >> 1) & 3;
  return bytchk === 0 ? 0 : bytchk === 3 ? bs : blocks * bs;
}

export function verifyXferBytes(cdb: Buffer, bs: number): number {
  return cdb.length < 10 ? 0 : verifyXfer(cdb, decodeLbaRange(cdb).blocks, bs);
}

export async function verify(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const bad = protectField(cdb);
  if (bad) return bad;
  const bytchk = (cdb[1]! >> 1) & 3;
  if (bytchk === 2) return checkCondition(invalidFieldInCdb(1, 1));
  const r = decodeLbaRange(cdb);
  const invalid = validateRange(lu, cdb, r);
  if (invalid) return invalid;
  if (r.blocks === 0) return GOOD;
  const media = await readBlocks(lu, r.lba, r.blocks);
  if (isReply(media)) return media;
  if (bytchk === 0) return GOOD; // medium verification only: the read succeeded
  const bs = lu.blockSize;
  const out = ctx.cmd.dataOut ?? Buffer.alloc(0);
  const expected = bytchk === 3 ? Buffer.alloc(r.blocks * bs) : out;
  if (bytchk === 3) for (let i = 0; i < r.blocks; i++) out.copy(expected, i * bs, 0, bs);
  if (expected.length < media.length) return checkCondition(invalidFieldInCdb(bytchk === 3 ? 1 : 7));
  const at = firstMismatch(media, expected.subarray(0, media.length));
  return at < 0 ? GOOD : checkCondition(miscompare(at));
}

/** ORWRITE(16) (sbc4r15 5.8): read, OR the data-out in, write back, atomically. */
export async function orWrite(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const r = checkedRange(ctx, true);
  if ('status' in r) return r;
  const data = receivedBlocks(ctx, r.blocks);
  if (!data) return GOOD;
  const blocks = data.length / lu.blockSize;
  return lu.handle.exclusive(async (dev) => {
    const old = await readBlocks(lu, r.lba, blocks, dev);
    if (isReply(old)) return old;
    for (let i = 0; i < old.length; i++) old[i]! |= data[i]!;
    return writeBlocks(lu, r.lba, old, (cdb[1]! & 0x08) !== 0, dev);
  });
}

/** PRE-FETCH 10/16 (sbc4r15 5.9): a hint; we only validate the range. */
export function preFetch(ctx: Ctx): Reply {
  const r = decodeLbaRange(ctx.cdb);
  const capacity = Number(ctx.lu.blocks);
  if (r.lba > capacity || r.lba + r.blocks > capacity) return validateRange(ctx.lu, ctx.cdb, r) ?? GOOD;
  return GOOD;
}

/** SYNCHRONIZE CACHE 10/16 (sbc4r15 5.24): flush everything; the LBA range is validated only. */
export async function synchronizeCache(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const r = decodeLbaRange(cdb);
  const capacity = Number(lu.blocks);
  if (r.lba > capacity || r.lba + r.blocks > capacity) return validateRange(lu, cdb, r) ?? GOOD;
  const res = await deviceOp(lu, true, () => lu.handle.device.flush());
  return isReply(res) ? res : GOOD;
}

/** Largest WRITE ATOMIC(16) in blocks (VPD 0xB0 MAXIMUM ATOMIC TRANSFER LENGTH). */
export function maxAtomicBlocks(lu: Ctx['lu']): number {
  return Math.min(maxTransferBlocks(lu), 0xffff);
}

export function writeAtomicXfer(cdb: Buffer, bs: number): number {
  return cdb.length >= 14 ? cdb.readUInt16BE(12) * bs : 0;
}

/**
 * WRITE ATOMIC(16) (sbc4r15 5.48): all or nothing. The write runs inside the
 * LUN's exclusive section so no other write interleaves with it.
 */
export async function writeAtomic(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const bad = protectField(cdb);
  if (bad) return bad;
  const hi = cdb.readUInt32BE(2);
  const lba = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + cdb.readUInt32BE(6);
  const r = { lba, blocks: cdb.readUInt16BE(12) };
  const capacity = Number(lu.blocks);
  if (r.lba > capacity || r.lba + r.blocks > capacity) return checkCondition(LBA_OUT_OF_RANGE);
  if (r.blocks > maxAtomicBlocks(lu)) return checkCondition(invalidFieldInCdb(12));
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  const data = receivedBlocks(ctx, r.blocks);
  if (r.blocks === 0 || !data) return GOOD;
  if (data.length !== r.blocks * lu.blockSize) return checkCondition(invalidFieldInCdb(12));
  const fua = (cdb[1]! & 0x08) !== 0;
  return lu.handle.exclusive((dev) => writeBlocks(lu, r.lba, data, fua, dev));
}
