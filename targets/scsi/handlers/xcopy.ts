/**
 * EXTENDED COPY (LID1, spc4r37 6.4) block → block between LUNs of this
 * target, and RECEIVE COPY RESULTS (spc4r37 6.27): OPERATING PARAMETERS and
 * COPY STATUS. Copies run synchronously in segment order; the copy status
 * of a held list id is kept per nexus until the nexus goes away.
 */
import { checkCondition, dataIn, GOOD, type Ctx, type Reply } from '../command.js';
import { ASC, SENSE_KEY } from '../constants.js';
import { isReply, readBlocks, writeBlocks } from '../io.js';
import type { LuState } from '../lu.js';
import { illegalRequest, invalidFieldInCdb, PARAMETER_LIST_LENGTH_ERROR, type SenseSpec } from '../sense.js';
import { naaDesignator } from './inquiry.js';

const MAX_TARGET_DESCRIPTORS = 2;
const MAX_SEGMENT_DESCRIPTORS = 16;
const MAX_DESCRIPTOR_LIST_BYTES = 1024;
const MAX_SEGMENT_BYTES = 64 << 20;
const COPY_CHUNK_BYTES = 1 << 20;
const HEADER = 16;
const TARGET_DESC_BYTES = 32;
const IDENT_TARGET_DESC = 0xe4;
const BLOCK_TO_BLOCK_SEG = 0x02;
const IMPLEMENTED = [BLOCK_TO_BLOCK_SEG, IDENT_TARGET_DESC];

/** Copy status held per nexus and list id (LIST ID USAGE 00b/01b). */
const held = new WeakMap<object, Map<number, { status: number; segments: number; bytes: number }>>();

function copyAborted(asc: number): Reply {
  return checkCondition({ key: SENSE_KEY.COPY_ABORTED, asc });
}

/** VPD 0x8F third-party copy: one Block Device ROD Limits-free LID1 descriptor set is enough for tests. */
export function thirdPartyCopyVpd(): Buffer {
  // spc4r37 7.8.17.4 Supported Commands descriptor: EXTENDED COPY(LID1) and RECEIVE COPY RESULTS.
  const cmds = Buffer.from([0x83, 1, 0x00, 0x84, 2, 0x00, 0x03]);
  const d = Buffer.alloc(4 + 1 + cmds.length);
  d.writeUInt16BE(0x0001, 0);
  d[4] = cmds.length;
  cmds.copy(d, 5);
  const padded = Buffer.alloc(Math.ceil(d.length / 4) * 4);
  d.copy(padded);
  padded.writeUInt16BE(padded.length - 4, 2);
  return padded;
}

interface Segment {
  src: LuState;
  dst: LuState;
  blocks: number;
  srcLba: number;
  dstLba: number;
}

function findLu(ctx: Ctx, desc: Buffer): LuState | undefined {
  const designator = desc.subarray(8, 8 + desc[7]!);
  for (const n of ctx.core.lunNumbers()) {
    const lu = ctx.core.lu(n);
    if (lu && desc[5] === 3 && designator.equals(naaDesignator(lu.handle.params.naaId))) return lu;
  }
  return undefined;
}

function parse(ctx: Ctx, p: Buffer): Segment[] | Reply {
  if (p.length < HEADER) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const tdl = p.readUInt16BE(2);
  const sdl = p.readUInt32BE(8);
  const inline = p.readUInt32BE(12);
  if (tdl + sdl > MAX_DESCRIPTOR_LIST_BYTES) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  if (HEADER + tdl + sdl + inline > p.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  if (tdl % TARGET_DESC_BYTES !== 0) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const targetCount = tdl / TARGET_DESC_BYTES;
  if (targetCount > MAX_TARGET_DESCRIPTORS) return checkCondition(illegalRequest(ASC.TOO_MANY_TARGET_DESCRIPTORS));
  const targets: Array<LuState | undefined> = [];
  for (let i = 0; i < targetCount; i++) {
    const d = p.subarray(HEADER + i * TARGET_DESC_BYTES, HEADER + (i + 1) * TARGET_DESC_BYTES);
    if (d[0] !== IDENT_TARGET_DESC) return checkCondition(illegalRequest(ASC.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE));
    targets.push(findLu(ctx, d));
  }
  return parseSegments(ctx, p.subarray(HEADER + tdl, HEADER + tdl + sdl), targets);
}

function parseSegments(_ctx: Ctx, s: Buffer, targets: Array<LuState | undefined>): Segment[] | Reply {
  const segs: Segment[] = [];
  for (let at = 0; at < s.length; ) {
    if (segs.length >= MAX_SEGMENT_DESCRIPTORS) return checkCondition(illegalRequest(ASC.TOO_MANY_SEGMENT_DESCRIPTORS));
    if (at + 4 > s.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const type = s[at]!;
    const len = s.readUInt16BE(at + 2) + 4;
    if (type !== BLOCK_TO_BLOCK_SEG) return checkCondition(illegalRequest(ASC.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE));
    if (len !== 0x1c || at + len > s.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const d = s.subarray(at, at + len);
    const src = targets[d.readUInt16BE(4)];
    const dst = targets[d.readUInt16BE(6)];
    if (!src || !dst) return copyAborted(ASC.UNREACHABLE_COPY_TARGET);
    const blocks = d.readUInt16BE(10);
    const srcLba = Number(d.readBigUInt64BE(12));
    const dstLba = Number(d.readBigUInt64BE(20));
    if (srcLba + blocks > Number(src.blocks) || dstLba + blocks > Number(dst.blocks)) return copyAborted(ASC.NO_ADDITIONAL_SENSE);
    if (blocks * src.blockSize > MAX_SEGMENT_BYTES || src.blockSize !== dst.blockSize) return copyAborted(ASC.NO_ADDITIONAL_SENSE);
    segs.push({ src, dst, blocks, srcLba, dstLba });
    at += len;
  }
  return segs;
}

async function copySegment(seg: Segment): Promise<Reply> {
  if (seg.dst.readOnly) return checkCondition({ key: SENSE_KEY.DATA_PROTECT, asc: ASC.WRITE_PROTECTED } as SenseSpec);
  const chunk = Math.max(1, Math.floor(COPY_CHUNK_BYTES / seg.src.blockSize));
  for (let done = 0; done < seg.blocks; done += chunk) {
    const n = Math.min(chunk, seg.blocks - done);
    const data = await readBlocks(seg.src, seg.srcLba + done, n);
    if (isReply(data)) return copyAborted(ASC.NO_ADDITIONAL_SENSE);
    const w = await writeBlocks(seg.dst, seg.dstLba + done, data, false);
    if (w.status !== 0) return copyAborted(ASC.NO_ADDITIONAL_SENSE);
  }
  return GOOD;
}

export async function extendedCopy(ctx: Ctx): Promise<Reply> {
  const paramLen = ctx.cdb.readUInt32BE(10);
  if (paramLen === 0) return GOOD;
  const p = (ctx.cmd.dataOut ?? Buffer.alloc(0)).subarray(0, paramLen);
  const segs = parse(ctx, p);
  if (isReply(segs)) return segs;
  const listId = p[0]!;
  const usage = (p[1]! >> 3) & 3;
  let bytes = 0;
  let done = 0;
  let result: Reply = GOOD;
  for (const seg of segs) {
    result = await copySegment(seg);
    if (result.status !== 0) break;
    bytes += seg.blocks * seg.src.blockSize;
    done++;
  }
  if (usage === 0 || usage === 1) {
    let m = held.get(ctx.nexus);
    if (!m) held.set(ctx.nexus, (m = new Map()));
    m.set(listId, { status: result.status === 0 ? 1 : 2, segments: done, bytes });
  }
  return result;
}

function operatingParameters(): Buffer {
  const b = Buffer.alloc(44 + IMPLEMENTED.length);
  b.writeUInt32BE(b.length - 4, 0);
  b.writeUInt16BE(MAX_TARGET_DESCRIPTORS, 8);
  b.writeUInt16BE(MAX_SEGMENT_DESCRIPTORS, 10);
  b.writeUInt32BE(MAX_DESCRIPTOR_LIST_BYTES, 12);
  b.writeUInt32BE(MAX_SEGMENT_BYTES, 16);
  b.writeUInt16BE(1, 34); // TOTAL CONCURRENT COPIES
  b[36] = 1;
  b[43] = IMPLEMENTED.length;
  Buffer.from(IMPLEMENTED).copy(b, 44);
  return b;
}

export function receiveCopyResults(ctx: Ctx): Reply {
  const { cdb } = ctx;
  const sa = cdb[1]! & 0x1f;
  const alloc = cdb.readUInt32BE(10);
  if (sa === 0x03) return dataIn(operatingParameters(), alloc);
  if (sa !== 0x00) return checkCondition(invalidFieldInCdb(1, 4));
  const st = held.get(ctx.nexus)?.get(cdb[2]!);
  if (!st) return checkCondition(invalidFieldInCdb(2));
  const b = Buffer.alloc(12);
  b.writeUInt32BE(8, 0);
  b[4] = st.status;
  b.writeUInt16BE(st.segments, 5);
  b[7] = 0; // TRANSFER COUNT UNITS: bytes
  b.writeUInt32BE(Math.min(st.bytes, 0xffffffff), 8);
  return dataIn(b, alloc);
}
