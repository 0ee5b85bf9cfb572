/**
 * The opcode table: one row per supported command (and service action),
 * carrying handler, data direction, CDB usage data, transfer length decoder
 * and reservation behaviour (tgt usr/sbc.c, LIO target_core_sbc.c play the
 * same role). REPORT SUPPORTED OPERATION CODES and docs/scsi.md are
 * generated from / checked against it.
 */
import type { OpRow, PrClass } from './command.js';
import { OP, SA } from './constants.js';
import { inquiry } from './handlers/inquiry.js';
import { compareAndWrite, compareAndWriteXfer, getLbaStatus, unmap, writeSame, writeSameXfer } from './handlers/lbp.js';
import {
  preventAllow,
  readCapacity10,
  readCapacity16,
  readDefectData,
  release,
  reportLuns,
  reportSupportedTmfs,
  reportTargetPortGroups,
  requestSense,
  reserve,
  startStopUnit,
  testUnitReady,
} from './handlers/misc.js';
import { modeSelect, modeSense } from './handlers/mode.js';
import { persistentReserveIn, persistentReserveOut } from './handlers/pr.js';
import { reportSupportedOpcodes } from './handlers/rsoc.js';
import { sanitizeBlockErase, sanitizeBlockEraseOffered, sanitizeExitFailureMode } from './handlers/sanitize.js';
import { orWrite, preFetch, read, synchronizeCache, verify, verifyXferBytes, write, writeAndVerify, writeAtomic, writeAtomicXfer } from './handlers/rw.js';
import { extendedCopy, receiveCopyResults } from './handlers/xcopy.js';
import { rwXfer } from './io.js';

const none = (): number => 0;
/** A big-endian length field of the CDB (allocation or parameter list length). */
const field = (offset: number, size: number) => (cdb: Buffer): number => (cdb.length >= offset + size ? cdb.readUIntBE(offset, size) : 0);

/** Usage bytes of a CDB: the opcode, then one mask per byte. */
const u = (op: number, ...rest: number[]): number[] => [op, ...rest];

const RW10 = [0x18, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x00];
const RW12 = [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00];
const RW16 = [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00];
const VFY10 = [0x16, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x00];
const VFY12 = [0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00];
const VFY16 = [0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00];

/** START STOP UNIT: only START=1 without power condition is allowed under reservations (sbc4r15 table 13). */
const startStopPr = (ctx: { cdb: Buffer }): PrClass => ((ctx.cdb[4]! & 0xf1) === 0x01 ? 'always' : 'write');
/** PREVENT ALLOW: PREVENT=0 is allowed, PREVENT=1 conflicts (spc4r37 table 62). */
const preventPr = (ctx: { cdb: Buffer }): PrClass => ((ctx.cdb[4]! & 0x03) === 0 ? 'always' : 'write');

export const OPCODES: readonly OpRow[] = [
  { name: 'TEST UNIT READY', op: OP.TEST_UNIT_READY, direction: 'none', usage: u(0x00, 0, 0, 0, 0, 0), xfer: none, run: testUnitReady, pr: 'always', medium: true },
  { name: 'REQUEST SENSE', op: OP.REQUEST_SENSE, direction: 'read', usage: u(0x03, 0x01, 0, 0, 0xff, 0), xfer: field(4, 1), runAny: requestSense, pr: 'always', spc2Allowed: true, skipUa: true },
  { name: 'READ(6)', op: OP.READ_6, direction: 'read', usage: u(0x08, 0x1f, 0xff, 0xff, 0xff, 0), xfer: rwXfer, run: read, pr: 'read', medium: true },
  { name: 'WRITE(6)', op: OP.WRITE_6, direction: 'write', usage: u(0x0a, 0x1f, 0xff, 0xff, 0xff, 0), xfer: rwXfer, run: write, pr: 'write', medium: true },
  { name: 'INQUIRY', op: OP.INQUIRY, direction: 'read', usage: u(0x12, 0x01, 0xff, 0xff, 0xff, 0), xfer: field(3, 2), runAny: inquiry, pr: 'always', spc2Allowed: true, skipUa: true },
  { name: 'MODE SELECT(6)', op: OP.MODE_SELECT_6, direction: 'write', usage: u(0x15, 0x11, 0, 0, 0xff, 0), xfer: field(4, 1), run: modeSelect, pr: 'write' },
  { name: 'RESERVE(6)', op: OP.RESERVE_6, direction: 'none', usage: u(0x16, 0, 0, 0, 0, 0), xfer: none, run: reserve, pr: 'always' },
  { name: 'RELEASE(6)', op: OP.RELEASE_6, direction: 'none', usage: u(0x17, 0, 0, 0, 0, 0), xfer: none, run: release, pr: 'always', spc2Allowed: true },
  { name: 'MODE SENSE(6)', op: OP.MODE_SENSE_6, direction: 'read', usage: u(0x1a, 0x08, 0xff, 0xff, 0xff, 0), xfer: field(4, 1), run: modeSense, pr: 'read' },
  { name: 'START STOP UNIT', op: OP.START_STOP_UNIT, direction: 'none', usage: u(0x1b, 0x01, 0, 0x0f, 0xf7, 0), xfer: none, run: startStopUnit, pr: startStopPr },
  { name: 'PREVENT ALLOW MEDIUM REMOVAL', op: OP.PREVENT_ALLOW_MEDIUM_REMOVAL, direction: 'none', usage: u(0x1e, 0, 0, 0, 0x03, 0), xfer: none, run: preventAllow, pr: preventPr },
  { name: 'READ CAPACITY(10)', op: OP.READ_CAPACITY_10, direction: 'read', usage: u(0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0), xfer: () => 8, run: readCapacity10, pr: 'always', medium: true },
  { name: 'READ(10)', op: OP.READ_10, direction: 'read', usage: u(0x28, ...RW10), xfer: rwXfer, run: read, pr: 'read', medium: true },
  { name: 'WRITE(10)', op: OP.WRITE_10, direction: 'write', usage: u(0x2a, ...RW10), xfer: rwXfer, run: write, pr: 'write', medium: true },
  { name: 'WRITE AND VERIFY(10)', op: OP.WRITE_AND_VERIFY_10, direction: 'write', usage: u(0x2e, ...VFY10), xfer: rwXfer, run: writeAndVerify, pr: 'write', medium: true },
  { name: 'VERIFY(10)', op: OP.VERIFY_10, direction: 'write', usage: u(0x2f, ...VFY10), xfer: verifyXferBytes, run: verify, pr: 'read', medium: true },
  { name: 'PRE-FETCH(10)', op: OP.PRE_FETCH_10, direction: 'none', usage: u(0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0), xfer: none, run: preFetch, pr: 'read', medium: true },
  { name: 'SYNCHRONIZE CACHE(10)', op: OP.SYNCHRONIZE_CACHE_10, direction: 'none', usage: u(0x35, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0), xfer: none, run: synchronizeCache, pr: 'write', medium: true },
  { name: 'READ DEFECT DATA(10)', op: OP.READ_DEFECT_DATA_10, direction: 'read', usage: u(0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: readDefectData, pr: 'read' },
  { name: 'WRITE SAME(10)', op: OP.WRITE_SAME_10, direction: 'write', usage: u(0x41, 0x08, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0), xfer: writeSameXfer, run: writeSame, pr: 'write', medium: true },
  { name: 'UNMAP', op: OP.UNMAP, direction: 'write', usage: u(0x42, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: unmap, pr: 'write', medium: true, offered: (lu) => lu.thin },
  { name: 'SANITIZE BLOCK ERASE', op: OP.SANITIZE, sa: SA.SANITIZE_BLOCK_ERASE, direction: 'write', usage: u(0x48, 0xa2, 0, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: sanitizeBlockErase, pr: 'write', medium: true, timeout: 600, offered: sanitizeBlockEraseOffered },
  { name: 'SANITIZE EXIT FAILURE MODE', op: OP.SANITIZE, sa: SA.SANITIZE_EXIT_FAILURE_MODE, direction: 'write', usage: u(0x48, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: sanitizeExitFailureMode, pr: 'write', medium: true },
  { name: 'MODE SELECT(10)', op: OP.MODE_SELECT_10, direction: 'write', usage: u(0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: modeSelect, pr: 'write' },
  { name: 'RESERVE(10)', op: OP.RESERVE_10, direction: 'none', usage: u(0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0), xfer: none, run: reserve, pr: 'always' },
  { name: 'RELEASE(10)', op: OP.RELEASE_10, direction: 'none', usage: u(0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0), xfer: none, run: release, pr: 'always', spc2Allowed: true },
  { name: 'MODE SENSE(10)', op: OP.MODE_SENSE_10, direction: 'read', usage: u(0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: modeSense, pr: 'read' },
  { name: 'PERSISTENT RESERVE IN', op: OP.PERSISTENT_RESERVE_IN, direction: 'read', usage: u(0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0), xfer: field(7, 2), run: persistentReserveIn, pr: 'always' },
  { name: 'PERSISTENT RESERVE OUT', op: OP.PERSISTENT_RESERVE_OUT, direction: 'write', usage: u(0x5f, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0), xfer: field(5, 4), run: persistentReserveOut, pr: 'always' },
  { name: 'EXTENDED COPY', op: OP.EXTENDED_COPY, sa: SA.EXTENDED_COPY_LID1, direction: 'write', usage: u(0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(10, 4), run: extendedCopy, pr: 'write', medium: true },
  { name: 'RECEIVE COPY RESULTS', op: OP.RECEIVE_COPY_RESULTS, direction: 'read', usage: u(0x84, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(10, 4), run: receiveCopyResults, pr: 'read' },
  { name: 'READ(16)', op: OP.READ_16, direction: 'read', usage: u(0x88, ...RW16), xfer: rwXfer, run: read, pr: 'read', medium: true },
  { name: 'COMPARE AND WRITE', op: OP.COMPARE_AND_WRITE, direction: 'write', usage: u(0x89, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0, 0), xfer: compareAndWriteXfer, run: compareAndWrite, pr: 'write', medium: true },
  { name: 'WRITE(16)', op: OP.WRITE_16, direction: 'write', usage: u(0x8a, ...RW16), xfer: rwXfer, run: write, pr: 'write', medium: true },
  { name: 'ORWRITE(16)', op: OP.ORWRITE_16, direction: 'write', usage: u(0x8b, ...RW16), xfer: rwXfer, run: orWrite, pr: 'write', medium: true },
  { name: 'WRITE AND VERIFY(16)', op: OP.WRITE_AND_VERIFY_16, direction: 'write', usage: u(0x8e, ...VFY16), xfer: rwXfer, run: writeAndVerify, pr: 'write', medium: true },
  { name: 'VERIFY(16)', op: OP.VERIFY_16, direction: 'write', usage: u(0x8f, ...VFY16), xfer: verifyXferBytes, run: verify, pr: 'read', medium: true },
  { name: 'PRE-FETCH(16)', op: OP.PRE_FETCH_16, direction: 'none', usage: u(0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0), xfer: none, run: preFetch, pr: 'read', medium: true },
  { name: 'SYNCHRONIZE CACHE(16)', op: OP.SYNCHRONIZE_CACHE_16, direction: 'none', usage: u(0x91, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0), xfer: none, run: synchronizeCache, pr: 'write', medium: true },
  { name: 'WRITE SAME(16)', op: OP.WRITE_SAME_16, direction: 'write', usage: u(0x93, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: writeSameXfer, run: writeSame, pr: 'write', medium: true },
  { name: 'WRITE ATOMIC(16)', op: OP.WRITE_ATOMIC_16, direction: 'write', usage: u(0x9c, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0), xfer: writeAtomicXfer, run: writeAtomic, pr: 'write', medium: true },
  { name: 'READ CAPACITY(16)', op: OP.SERVICE_ACTION_IN_16, sa: SA.READ_CAPACITY_16, direction: 'read', usage: u(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(10, 4), run: readCapacity16, pr: 'always', medium: true },
  { name: 'GET LBA STATUS', op: OP.SERVICE_ACTION_IN_16, sa: SA.GET_LBA_STATUS, direction: 'read', usage: u(0x9e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(10, 4), run: getLbaStatus, pr: 'read', medium: true },
  { name: 'REPORT LUNS', op: OP.REPORT_LUNS, direction: 'read', usage: u(0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(6, 4), runAny: reportLuns, pr: 'always', spc2Allowed: true, skipUa: true },
  { name: 'REPORT TARGET PORT GROUPS', op: OP.MAINTENANCE_IN, sa: SA.REPORT_TARGET_PORT_GROUPS, direction: 'read', usage: u(0xa3, 0xea, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(6, 4), run: reportTargetPortGroups, pr: 'always', spc2Allowed: true },
  { name: 'REPORT SUPPORTED OPERATION CODES', op: OP.MAINTENANCE_IN, sa: SA.REPORT_SUPPORTED_OPCODES, direction: 'read', usage: u(0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(6, 4), run: reportSupportedOpcodes, pr: 'always', spc2Allowed: true },
  { name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS', op: OP.MAINTENANCE_IN, sa: SA.REPORT_SUPPORTED_TMFS, direction: 'read', usage: u(0xa3, 0x0d, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(6, 4), run: reportSupportedTmfs, pr: 'always', spc2Allowed: true },
  { name: 'READ(12)', op: OP.READ_12, direction: 'read', usage: u(0xa8, ...RW12), xfer: rwXfer, run: read, pr: 'read', medium: true },
  { name: 'WRITE(12)', op: OP.WRITE_12, direction: 'write', usage: u(0xaa, ...RW12), xfer: rwXfer, run: write, pr: 'write', medium: true },
  { name: 'WRITE AND VERIFY(12)', op: OP.WRITE_AND_VERIFY_12, direction: 'write', usage: u(0xae, ...VFY12), xfer: rwXfer, run: writeAndVerify, pr: 'write', medium: true },
  { name: 'VERIFY(12)', op: OP.VERIFY_12, direction: 'write', usage: u(0xaf, ...VFY12), xfer: verifyXferBytes, run: verify, pr: 'read', medium: true },
  { name: 'READ DEFECT DATA(12)', op: OP.READ_DEFECT_DATA_12, direction: 'read', usage: u(0xb7, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), xfer: field(6, 4), run: readDefectData, pr: 'read' },
];

/** Opcodes that carry a service action in byte 1 (bits 4..0). */
export const SA_OPCODES: ReadonlySet<number> = new Set(OPCODES.filter((r) => r.sa !== undefined).map((r) => r.op));

/** Row lookup: 256 slots for plain opcodes, a map for opcode+SA. */
const byOp: Array<OpRow | undefined> = new Array(256);
const bySa = new Map<number, OpRow>();
for (const r of OPCODES) {
  if (r.sa === undefined) byOp[r.op] = r;
  else bySa.set((r.op << 8) | r.sa, r);
}

export function findRow(cdb: Buffer): OpRow | undefined {
  const op = cdb[0]!;
  if (SA_OPCODES.has(op)) return bySa.get((op << 8) | (cdb[1]! & 0x1f));
  return byOp[op];
}

/** CDB length by group code (spc4r37 4.2.5.1); 0 for variable/vendor groups. */
export function cdbLength(op: number): number {
  switch (op >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}
