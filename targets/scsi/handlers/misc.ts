/**
 * Small SPC/SBC commands: TEST UNIT READY, REQUEST SENSE, REPORT LUNS,
 * READ CAPACITY 10/16, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL,
 * RESERVE/RELEASE 6/10, REPORT TARGET PORT GROUPS, REPORT SUPPORTED TASK
 * MANAGEMENT FUNCTIONS, READ DEFECT DATA 10/12.
 */
import { checkCondition, dataIn, GOOD, type Ctx, type Reply } from '../command.js';
import { ASC, SENSE_KEY } from '../constants.js';
import type { LuState } from '../lu.js';
import { encodeSense, illegalRequest, invalidFieldInCdb } from '../sense.js';

export const testUnitReady = (): Reply => GOOD;

/** spc4r37 6.39: report (and clear) a pending unit attention, else NO SENSE. */
export function requestSense(ctx: Ctx<LuState | undefined>): Reply {
  const { cdb, lu } = ctx;
  const desc = (cdb[1]! & 0x01) !== 0;
  const alloc = cdb[4]!;
  if (!lu) return dataIn(encodeSense(illegalRequest(ASC.LUN_NOT_SUPPORTED), desc), alloc);
  const q = ctx.nexus.ua.get(ctx.cmd.lun);
  const asc = q?.shift();
  const spec = asc !== undefined ? { key: SENSE_KEY.UNIT_ATTENTION, asc } : { key: SENSE_KEY.NO_SENSE, asc: ASC.NO_ADDITIONAL_SENSE };
  return dataIn(encodeSense(spec, desc), alloc);
}

/** SAM-5 4.6.1 single-level LUN addressing: peripheral (< 256) or flat space. */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else b.writeUInt16BE(0x4000 | (lun & 0x3fff), 0);
  return b;
}

export function reportLuns(ctx: Ctx<LuState | undefined>): Reply {
  const { cdb } = ctx;
  const select = cdb[2]!;
  const alloc = cdb.readUInt32BE(6);
  if (select > 2) return checkCondition(invalidFieldInCdb(2));
  if (alloc < 16) return checkCondition(invalidFieldInCdb(6));
  // Select 1 (well-known LUNs only) reports none: we have no W-LUNs.
  const luns = select === 1 ? [] : ctx.core.lunNumbers();
  const b = Buffer.alloc(8 + 8 * luns.length);
  b.writeUInt32BE(8 * luns.length, 0);
  luns.forEach((l, i) => encodeLun(l).copy(b, 8 + 8 * i));
  // sam5r21 5.14: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for this nexus.
  for (const q of ctx.nexus.ua.values()) {
    for (let i = q.length - 1; i >= 0; i--) if (q[i] === ASC.REPORTED_LUNS_DATA_HAS_CHANGED) q.splice(i, 1);
  }
  return dataIn(b, alloc);
}

export function readCapacity10(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  if (!(cdb[8]! & 0x01) && cdb.readUInt32BE(2) !== 0) return checkCondition(invalidFieldInCdb(2));
  const b = Buffer.alloc(8);
  const last = lu.blocks - 1n;
  b.writeUInt32BE(last > 0xffffffffn ? 0xffffffff : Number(last), 0);
  b.writeUInt32BE(lu.blockSize, 4);
  return dataIn(b, 8);
}

export function readCapacity16(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  const alloc = cdb.readUInt32BE(10);
  const b = Buffer.alloc(32);
  b.writeBigUInt64BE(lu.blocks - 1n, 0);
  b.writeUInt32BE(lu.blockSize, 8);
  // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT stays 0 (see README: physical size goes to VPD B0).
  if (lu.thin) b[14] = 0x80 | 0x40; // LBPME, LBPRZ
  return dataIn(b, alloc);
}

/** sbc4r15 5.25: LOEJ ejects/loads removable media unless removal is prevented (sbc4r15 5.15). */
export function startStopUnit(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  const powerCondition = cdb[4]! >> 4;
  const loej = (cdb[4]! & 0x02) !== 0;
  const start = (cdb[4]! & 0x01) !== 0;
  if (powerCondition !== 0 || !loej || !lu.handle.params.removable) return GOOD;
  // While removal is prevented neither unload nor load is performed (libiscsi PreventAllow.Eject).
  if (lu.preventers.size > 0) return checkCondition(illegalRequest(ASC.MEDIUM_REMOVAL_PREVENTED));
  lu.ejected = !start;
  return GOOD;
}

export function preventAllow(ctx: Ctx): Reply {
  const prevent = ctx.cdb[4]! & 0x03;
  if (prevent > 1) return checkCondition(invalidFieldInCdb(4, 0));
  if (prevent) ctx.lu.preventers.add(ctx.nexus.nexus.id);
  else ctx.lu.preventers.delete(ctx.nexus.nexus.id);
  return GOOD;
}

/** spc2r20 7.21/7.24: SPC-2 reservations. A PR reservation makes them conflict (spc4r37 5.13.3). */
export function reserve(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  if (cdb[0] === 0x56 && cdb[1]! & 0x02) return checkCondition(invalidFieldInCdb(1, 1)); // 3RDPTY
  if (lu.pr.reservation) return { status: 0x18 };
  const me = ctx.nexus.nexus.id;
  if (lu.spc2Holder !== undefined && lu.spc2Holder !== me) return { status: 0x18 };
  lu.spc2Holder = me;
  return GOOD;
}

export function release(ctx: Ctx): Reply {
  const { lu } = ctx;
  if (lu.pr.reservation) return { status: 0x18 };
  if (lu.spc2Holder === ctx.nexus.nexus.id) lu.spc2Holder = undefined;
  return GOOD;
}

/** spc4r37 6.36: one target port group, active/optimized, holding the caller's port. */
export function reportTargetPortGroups(ctx: Ctx): Reply {
  const { cdb } = ctx;
  const extended = cdb[1]! >> 5 === 1;
  const alloc = cdb.readUInt32BE(6);
  const g = Buffer.alloc(12);
  g[0] = 0x80; // PREF, ASYMMETRIC ACCESS STATE 0h active/optimized
  g[1] = 0x01; // AO_SUP
  g.writeUInt16BE(ctx.cmd.nexus.targetPortalGroup & 0xffff, 2);
  g[7] = 1;
  g.writeUInt16BE(ctx.cmd.nexus.relativeTargetPort & 0xffff, 10);
  const h = Buffer.alloc(extended ? 8 : 4);
  h.writeUInt32BE(h.length - 4 + g.length, 0);
  if (extended) h[4] = 0x10; // FORMAT TYPE 001b
  return dataIn(Buffer.concat([h, g]), alloc);
}

export function reportSupportedTmfs(ctx: Ctx): Reply {
  const { cdb } = ctx;
  const repd = (cdb[2]! & 0x80) !== 0;
  const b = Buffer.alloc(repd ? 16 : 4);
  b[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02; // ATS, ATSS, CTSS, LURS, TRS
  b[1] = 0x01; // ITNRS
  if (repd) b[3] = 0x0c;
  return dataIn(b, cdb.readUInt32BE(6));
}

/** sbc4r15 5.11/5.12: we keep no defect lists; return an empty list in the requested format. */
export function readDefectData(ctx: Ctx): Reply {
  const { cdb } = ctx;
  const twelve = cdb[0] === 0xb7;
  const flags = twelve ? cdb[1]! : cdb[2]!;
  const b = Buffer.alloc(twelve ? 8 : 4);
  b[1] = flags & 0x1f;
  return dataIn(b, twelve ? cdb.readUInt32BE(6) : cdb.readUInt16BE(7));
}
