/**
 * Block I/O helpers shared by the SBC handlers: CDB LBA/length decoding,
 * range validation and device calls wrapped in per-LUN accounting and the
 * BlockError → sense mapping. Kept closure-free on the READ/WRITE path.
 */
import { hrtime } from 'node:process';
import { SlabAllocator } from '../../src/block/buffer-pool.js';
import { FAST_PATH_MAX_BYTES, toBlockError, type BlockDevice } from '../../src/block/device.js';
import { checkCondition, GOOD, type Reply } from './command.js';
import type { LuState } from './lu.js';
import { blockErrorSense, invalidFieldInCdb, LBA_OUT_OF_RANGE } from './sense.js';

/** LBA and block count of a READ/WRITE/VERIFY-family CDB. */
export interface LbaRange {
  lba: number;
  blocks: number;
}

const TWO_32 = 0x1_0000_0000;

/**
 * sbc4r15 5.x: 6-byte CDBs carry a 21-bit LBA and 0 means 256 blocks;
 * 10/12/16-byte CDBs carry 32/32/64-bit LBAs. A 64-bit LBA above 2^53 is
 * clamped to MAX_SAFE_INTEGER, which is out of range for any real device.
 */
export function decodeLbaRange(cdb: Buffer): LbaRange {
  switch (cdb.length) {
    case 6:
      return { lba: ((cdb[1]! & 0x1f) << 16) | cdb.readUInt16BE(2), blocks: cdb[4] === 0 ? 256 : cdb[4]! };
    case 10:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
    case 12:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6) };
    default: {
      const hi = cdb.readUInt32BE(2);
      const lba = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * TWO_32 + cdb.readUInt32BE(6);
      return { lba, blocks: cdb.readUInt32BE(10) };
    }
  }
}

/** Transfer bytes implied by a READ/WRITE-family CDB. */
export function rwXfer(cdb: Buffer, blockSize: number): number {
  if (cdb.length < 6) return 0;
  return decodeLbaRange(cdb).blocks * blockSize;
}

/** Largest transfer we accept in one command, in blocks (VPD 0xB0 MAXIMUM TRANSFER LENGTH). */
export function maxTransferBlocks(lu: LuState): number {
  const info = lu.handle.device.info;
  return Math.max(1, Math.floor(Math.min(info.maxTransferBytes, 0x7fff_ffff) / info.blockSize));
}

/**
 * sbc4r15 4.5: LBA + length must not pass the capacity (checked even for
 * zero-length transfers); a transfer above MAXIMUM TRANSFER LENGTH is an
 * invalid field (sbc4r15 6.6.4), pointing at the transfer length bytes.
 */
export function validateRange(lu: LuState, cdb: Buffer, r: LbaRange): Reply | undefined {
  const capacity = Number(lu.blocks);
  if (r.lba > capacity || r.lba + r.blocks > capacity) return checkCondition(LBA_OUT_OF_RANGE);
  if (r.blocks > maxTransferBlocks(lu)) return checkCondition(invalidFieldInCdb(cdb.length === 16 ? 10 : cdb.length === 12 ? 6 : 7));
  return undefined;
}

function failed(err: unknown, write: boolean, lba: number): Reply {
  const e = toBlockError(err);
  return checkCondition(blockErrorSense(e.kind, write, BigInt(lba)));
}

/** Buffers of fast-path reads (one allocator per target loop: the module is loaded per worker). */
const slab = new SlabAllocator();

/**
 * Read [lba, lba+blocks) now if the device can without waiting (page
 * cache), with accounting; undefined: nothing done, call `readBlocks`.
 */
export function readBlocksNow(lu: LuState, lba: number, blocks: number): Buffer | undefined {
  const dev = lu.handle.device;
  const len = blocks * lu.blockSize;
  if (len > FAST_PATH_MAX_BYTES || !dev.readNow) return undefined;
  const t0 = hrtime.bigint();
  const buf = slab.take(len);
  if (!dev.readNow(lba * lu.blockSize, len, buf, 0)) return undefined;
  lu.handle.stats.record('read', len, Number(hrtime.bigint() - t0), true);
  return buf;
}

/** A non-FUA write done now if the device can (page cache), with accounting; false: call `writeBlocks`. */
export function writeBlocksNow(lu: LuState, lba: number, data: Buffer): boolean {
  const dev = lu.handle.device;
  if (data.length > FAST_PATH_MAX_BYTES || !dev.writeNow) return false;
  const t0 = hrtime.bigint();
  if (!dev.writeNow(lba * lu.blockSize, data)) return false;
  lu.handle.stats.record('write', data.length, Number(hrtime.bigint() - t0), true);
  return true;
}

/** Read [lba, lba+blocks) with accounting. Returns the data or a failure reply. */
export async function readBlocks(lu: LuState, lba: number, blocks: number, dev: BlockDevice = lu.handle.device): Promise<Buffer | Reply> {
  const bs = lu.blockSize;
  const stats = lu.handle.stats;
  const t0 = hrtime.bigint();
  stats.inflight(1);
  try {
    const data = await dev.read(lba * bs, blocks * bs);
    stats.record('read', data.length, Number(hrtime.bigint() - t0), true);
    return data;
  } catch (err) {
    stats.record('read', 0, Number(hrtime.bigint() - t0), false);
    return failed(err, false, lba);
  } finally {
    stats.inflight(-1);
  }
}

/** Write whole blocks at `lba` with accounting. */
export async function writeBlocks(lu: LuState, lba: number, data: Buffer, fua: boolean, dev: BlockDevice = lu.handle.device): Promise<Reply> {
  const stats = lu.handle.stats;
  const t0 = hrtime.bigint();
  stats.inflight(1);
  try {
    await dev.write(lba * lu.blockSize, data, fua ? { fua: true } : undefined);
    stats.record('write', data.length, Number(hrtime.bigint() - t0), true);
    return GOOD;
  } catch (err) {
    stats.record('write', 0, Number(hrtime.bigint() - t0), false);
    return failed(err, true, lba);
  } finally {
    stats.inflight(-1);
  }
}

/** Any other device call (flush, discard, writeZeroes, blockStatus), accounted as 'other'. */
export async function deviceOp<T>(lu: LuState, write: boolean, op: () => Promise<T>): Promise<T | Reply> {
  const stats = lu.handle.stats;
  const t0 = hrtime.bigint();
  stats.inflight(1);
  try {
    const v = await op();
    stats.record('other', 0, Number(hrtime.bigint() - t0), true);
    return v;
  } catch (err) {
    stats.record('other', 0, Number(hrtime.bigint() - t0), false);
    return failed(err, write, 0);
  } finally {
    stats.inflight(-1);
  }
}

export function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && 'status' in v;
}

/** Offset of the first differing byte, or -1. */
export function firstMismatch(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
