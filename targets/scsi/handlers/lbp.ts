/**
 * Logical block provisioning and atomic commands: UNMAP, WRITE SAME 10/16,
 * GET LBA STATUS, COMPARE AND WRITE (sbc4r15 4.7, 5.2, 5.7, 5.50, 5.48).
 */
import { checkCondition, dataIn, GOOD, type Ctx, type Reply } from '../command.js';
import { ASC } from '../constants.js';
import { decodeLbaRange, deviceOp, firstMismatch, isReply, readBlocks, writeBlocks } from '../io.js';
import type { LuState } from '../lu.js';
import {
  illegalRequest,
  invalidFieldInCdb,
  invalidFieldInParam,
  LBA_OUT_OF_RANGE,
  miscompare,
  PARAMETER_LIST_LENGTH_ERROR,
  WRITE_PROTECTED,
} from '../sense.js';

/** Limits advertised in the Block Limits VPD page (0xB0). */
export const LIMITS = {
  maxUnmapLbaCount: 0x100000, // 1 Mi blocks per UNMAP
  maxUnmapDescriptors: 256,
  maxWriteSameBlocks: 0x10000,
  maxCompareAndWriteBlocks: 255,
} as const;

/** Largest buffer one WRITE SAME pattern write allocates. */
const WRITE_SAME_CHUNK_BYTES = 1 << 20;

export async function unmap(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  if (cdb[1]! & 0x01) return checkCondition(invalidFieldInCdb(1, 0)); // ANCHOR: ANC_SUP=0
  if (!lu.thin) return checkCondition(illegalRequest(ASC.INVALID_OPERATION_CODE));
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  const paramLen = cdb.readUInt16BE(7);
  if (paramLen === 0) return GOOD;
  const p = ctx.cmd.dataOut ?? Buffer.alloc(0);
  // sbc4r15 5.32.2: header 8 bytes, descriptors of 16 bytes.
  if (paramLen < 8 || p.length < 8) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const dataLen = p.readUInt16BE(0);
  const descLen = p.readUInt16BE(2);
  if (dataLen + 2 > p.length || descLen + 8 > p.length || descLen % 16 !== 0) {
    return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  }
  const count = descLen / 16;
  if (count > LIMITS.maxUnmapDescriptors) return checkCondition(invalidFieldInParam(2));
  const ranges: Array<[number, number]> = [];
  const capacity = Number(lu.blocks);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = 8 + i * 16;
    const hi = p.readUInt32BE(at);
    const lba = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + p.readUInt32BE(at + 4);
    const blocks = p.readUInt32BE(at + 8);
    if (lba > capacity || lba + blocks > capacity) return checkCondition(LBA_OUT_OF_RANGE);
    total += blocks;
    if (blocks > 0) ranges.push([lba, blocks]);
  }
  if (total > LIMITS.maxUnmapLbaCount) return checkCondition(invalidFieldInParam(8 + 8));
  const bs = lu.blockSize;
  for (const [lba, blocks] of ranges) {
    const r = await deviceOp(lu, true, () => lu.handle.device.discard(lba * bs, blocks * bs));
    if (isReply(r)) return r;
  }
  return GOOD;
}

export function writeSameXfer(cdb: Buffer, bs: number): number {
  return cdb[0] === 0x93 && cdb[1]! & 0x01 ? 0 : bs; // NDOB
}

export async function writeSame(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const ws16 = cdb.length === 16;
  const flags = cdb[1]!;
  if (flags & 0xe0) return checkCondition(invalidFieldInCdb(1, 5)); // WRPROTECT
  if (flags & 0x10) return checkCondition(invalidFieldInCdb(1, 4)); // ANCHOR: ANC_SUP=0
  if (!ws16 && flags & 0x01) return checkCondition(invalidFieldInCdb(1, 0)); // obsolete RELADR/LBDATA
  const unmapBit = (flags & 0x08) !== 0;
  const ndob = ws16 && (flags & 0x01) !== 0;
  const r = decodeLbaRange(cdb);
  const capacity = Number(lu.blocks);
  if (r.lba > capacity || r.lba + r.blocks > capacity) return checkCondition(LBA_OUT_OF_RANGE);
  // sbc4r15 5.50: NUMBER OF LOGICAL BLOCKS 0 means "to the last LBA" (WSNZ=0).
  const blocks = r.blocks === 0 ? capacity - r.lba : r.blocks;
  if (blocks > LIMITS.maxWriteSameBlocks) return checkCondition(invalidFieldInCdb(ws16 ? 10 : 7));
  // A read-only LUN is write protected whatever it is asked to do, UNMAP included
  // (its device cannot discard, so the UNMAP-bit check would say INVALID FIELD).
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  if (unmapBit && !lu.thin) return checkCondition(invalidFieldInCdb(1, 3));
  const bs = lu.blockSize;
  let block: Buffer;
  if (ndob) block = Buffer.alloc(bs);
  else {
    const out = ctx.cmd.dataOut;
    if (!out || out.length !== bs) return checkCondition(invalidFieldInCdb(ws16 ? 10 : 7));
    block = out;
  }
  if (blocks === 0) return GOOD;
  // UNMAP=1 deallocates whatever the data block holds (as LIO and tgt do; with
  // LBPRZ the range then reads as zeroes, which libiscsi's UnmapUntilEnd checks).
  if (unmapBit || isZero(block)) {
    const dev = lu.handle.device;
    const res = await deviceOp(lu, true, () =>
      unmapBit ? dev.discard(r.lba * bs, blocks * bs) : dev.writeZeroes(r.lba * bs, blocks * bs, { mayDeallocate: lu.thin }),
    );
    return isReply(res) ? res : GOOD;
  }
  return writePattern(lu, r.lba, blocks, block);
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

async function writePattern(lu: LuState, lba: number, blocks: number, block: Buffer): Promise<Reply> {
  const bs = lu.blockSize;
  const chunkBlocks = Math.max(1, Math.min(blocks, Math.floor(WRITE_SAME_CHUNK_BYTES / bs)));
  const chunk = Buffer.alloc(chunkBlocks * bs);
  for (let i = 0; i < chunkBlocks; i++) block.copy(chunk, i * bs);
  for (let done = 0; done < blocks; done += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - done);
    const res = await writeBlocks(lu, lba + done, chunk.subarray(0, n * bs), false);
    if (res.status !== 0) return res;
  }
  return GOOD;
}

/** GET LBA STATUS (sbc4r15 5.7): one descriptor per run from device.blockStatus. */
export async function getLbaStatus(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const hi = cdb.readUInt32BE(2);
  const lba = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + cdb.readUInt32BE(6);
  const alloc = cdb.readUInt32BE(10);
  const capacity = Number(lu.blocks);
  if (lba >= capacity) return checkCondition(LBA_OUT_OF_RANGE);
  if (alloc === 0) return GOOD;
  const bs = lu.blockSize;
  const maxDesc = Math.max(1, Math.min(64, Math.floor((alloc - 8) / 16)));
  const span = Math.min(capacity - lba, 0x1_0000 * 16) * bs;
  let extents: Array<{ offsetBytes: number; lengthBytes: number; hole: boolean }>;
  if (lu.handle.device.info.canBlockStatus && lu.thin) {
    const res = await deviceOp(lu, false, () => lu.handle.device.blockStatus(lba * bs, span, maxDesc));
    if (isReply(res)) return res;
    extents = res;
  } else extents = [{ offsetBytes: lba * bs, lengthBytes: span, hole: false }];
  const descs = extents.slice(0, maxDesc);
  const out = Buffer.alloc(8 + descs.length * 16);
  out.writeUInt32BE(4 + descs.length * 16, 0);
  descs.forEach((e, i) => {
    const at = 8 + i * 16;
    out.writeBigUInt64BE(BigInt(e.offsetBytes / bs), at);
    out.writeUInt32BE(Math.min(0xffffffff, Math.floor(e.lengthBytes / bs)), at + 8);
    out[at + 12] = e.hole ? 1 : 0; // PROVISIONING STATUS: 0 mapped, 1 deallocated
  });
  return dataIn(out, alloc);
}

/** COMPARE AND WRITE (sbc4r15 5.2): atomic against every other write of the LUN. */
export async function compareAndWrite(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  if (cdb[1]! & 0xe0) return checkCondition(invalidFieldInCdb(1, 5));
  const hi = cdb.readUInt32BE(2);
  const lba = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + cdb.readUInt32BE(6);
  const blocks = cdb[13]!;
  const capacity = Number(lu.blocks);
  if (lba > capacity || lba + blocks > capacity) return checkCondition(LBA_OUT_OF_RANGE);
  if (blocks > LIMITS.maxCompareAndWriteBlocks) return checkCondition(invalidFieldInCdb(13));
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  // The data-out must be exactly verify + write data; libiscsi sends 256 blocks
  // as a wrapped NUMBER OF LOGICAL BLOCKS 0 and expects a rejection.
  const bytes = blocks * lu.blockSize;
  const out = ctx.cmd.dataOut;
  if ((out?.length ?? 0) !== 2 * bytes) return checkCondition(invalidFieldInCdb(13));
  if (blocks === 0 || !out) return GOOD;
  const verifyData = out.subarray(0, bytes);
  const writeData = out.subarray(bytes);
  const fua = (cdb[1]! & 0x08) !== 0;
  return lu.handle.exclusive(async (dev) => {
    const cur = await readBlocks(lu, lba, blocks, dev);
    if (isReply(cur)) return cur;
    const at = firstMismatch(cur, verifyData);
    if (at >= 0) return checkCondition(miscompare(at));
    return writeBlocks(lu, lba, writeData, fua, dev);
  });
}

export function compareAndWriteXfer(cdb: Buffer, bs: number): number {
  return cdb.length >= 14 ? 2 * cdb[13]! * bs : 0;
}
