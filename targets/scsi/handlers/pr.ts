/**
 * PERSISTENT RESERVE IN / OUT (spc4r37 5.13, 6.15, 6.16). Registrations are
 * keyed by I_T nexus identity (initiator port + relative target port, or
 * every target port with ALL_TG_PT), so they survive session loss as the
 * standard requires. SPEC_I_PT is not supported (SIP_C = 0).
 */
import { checkCondition, dataIn, GOOD, type Ctx, type Reply } from '../command.js';
import { ASC } from '../constants.js';
import { isAllRegistrants, PR_TYPES, regMatches, type LuState, type Registration } from '../lu.js';
import { illegalRequest, invalidFieldInCdb, invalidFieldInParam, PARAMETER_LIST_LENGTH_ERROR } from '../sense.js';
import type { ScsiNexus } from '../types.js';

const CONFLICT: Reply = { status: 0x18 };
const PR_TYPE_MASK = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // byte 4: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX

// ---- PERSISTENT RESERVE IN ---------------------------------------------------

/** spc4r37 7.6.4.6: iSCSI TransportID, format 01b (name + ISID). */
export function encodeTransportId(r: Registration): Buffer {
  const text = Buffer.from(`${r.initiatorName},i,0x${r.isid}\0`, 'utf8');
  const len = Math.max(20, Math.ceil((4 + text.length) / 4) * 4);
  const b = Buffer.alloc(len);
  b[0] = 0x40 | 0x05;
  b.writeUInt16BE(len - 4, 2);
  text.copy(b, 4);
  return b;
}

function holderKey(lu: LuState): bigint {
  const res = lu.pr.reservation!;
  return isAllRegistrants(res.type) ? 0n : res.holder.key;
}

function readKeys(lu: LuState): Buffer {
  const b = Buffer.alloc(8 + 8 * lu.pr.registrations.length);
  b.writeUInt32BE(lu.pr.generation, 0);
  b.writeUInt32BE(8 * lu.pr.registrations.length, 4);
  lu.pr.registrations.forEach((r, i) => b.writeBigUInt64BE(r.key, 8 + 8 * i));
  return b;
}

function readReservation(lu: LuState): Buffer {
  const res = lu.pr.reservation;
  const b = Buffer.alloc(res ? 24 : 8);
  b.writeUInt32BE(lu.pr.generation, 0);
  if (res) {
    b.writeUInt32BE(16, 4);
    b.writeBigUInt64BE(holderKey(lu), 8);
    b[21] = res.type & 0x0f; // SCOPE 0 (LU)
  }
  return b;
}

function reportCapabilities(lu: LuState): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(8, 0);
  b[2] = 0x10 | 0x04 | 0x01; // CRH, ATP_C, PTPL_C
  b[3] = 0x80 | (1 << 4) | (lu.pr.aptpl ? 0x01 : 0); // TMV, ALLOW COMMANDS 001b, PTPL_A (spc4r37 6.15.4)
  b[4] = PR_TYPE_MASK;
  b[5] = 0x01; // EX_AC_AR
  return b;
}

function readFullStatus(lu: LuState): Buffer {
  const descs = lu.pr.registrations.map((r) => {
    const tid = encodeTransportId(r);
    const d = Buffer.alloc(24 + tid.length);
    d.writeBigUInt64BE(r.key, 0);
    const res = lu.pr.reservation;
    const holds = res && (isAllRegistrants(res.type) || res.holder === r);
    d[12] = (r.allTgPt ? 0x02 : 0) | (holds ? 0x01 : 0);
    if (holds) d[13] = res.type & 0x0f;
    d.writeUInt16BE(r.relativeTargetPort & 0xffff, 18);
    d.writeUInt32BE(tid.length, 20);
    tid.copy(d, 24);
    return d;
  });
  const body = Buffer.concat(descs);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(lu.pr.generation, 0);
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

const PRIN: Record<number, (lu: LuState) => Buffer> = {
  0: readKeys,
  1: readReservation,
  2: reportCapabilities,
  3: readFullStatus,
};

export function persistentReserveIn(ctx: Ctx): Reply {
  const sa = ctx.cdb[1]! & 0x1f;
  const build = PRIN[sa];
  if (!build) return checkCondition(invalidFieldInCdb(1, 4));
  return dataIn(build(ctx.lu), ctx.cdb.readUInt16BE(7));
}

// ---- PERSISTENT RESERVE OUT --------------------------------------------------

interface ProutParams {
  key: bigint;
  saKey: bigint;
  specIPt: boolean;
  allTgPt: boolean;
  aptpl: boolean;
  raw: Buffer;
}

type ProutHandler = (ctx: Ctx, p: ProutParams, type: number) => Reply | Promise<Reply>;

function registrationFor(n: ScsiNexus, key: bigint, allTgPt: boolean): Registration {
  return { key, initiatorName: n.initiatorName, isid: n.isid, relativeTargetPort: n.relativeTargetPort, allTgPt };
}

function bump(lu: LuState): void {
  lu.pr.generation = (lu.pr.generation + 1) >>> 0;
}

/** Remove registrations; release the reservation if its holder goes (spc4r37 5.13.11.2). */
function removeRegistrations(ctx: Ctx, victims: Registration[], asc: number | undefined): void {
  const { lu } = ctx;
  lu.pr.registrations = lu.pr.registrations.filter((r) => !victims.includes(r));
  const res = lu.pr.reservation;
  if (res && (isAllRegistrants(res.type) ? lu.pr.registrations.length === 0 : victims.includes(res.holder))) {
    lu.pr.reservation = undefined;
  }
  if (asc !== undefined) for (const v of victims) ctx.core.queueUaWhere(ctx.cmd.lun, asc, (n) => regMatches(v, n));
}

function register(ignoreKey: boolean): ProutHandler {
  return (ctx, p) => {
    const { lu } = ctx;
    const me = lu.registrationOf(ctx.cmd.nexus);
    if (p.specIPt) return checkCondition(invalidFieldInParam(20, 3));
    if (!me) {
      if (!ignoreKey && p.key !== 0n) return CONFLICT;
      if (p.saKey === 0n) return GOOD;
      lu.pr.registrations.push(registrationFor(ctx.cmd.nexus, p.saKey, p.allTgPt));
    } else {
      if (!ignoreKey && p.key !== me.key) return CONFLICT;
      if (p.saKey === 0n) unregister(ctx, me);
      else me.key = p.saKey;
    }
    lu.pr.aptpl = p.aptpl;
    bump(lu);
    return GOOD;
  };
}

function unregister(ctx: Ctx, me: Registration): void {
  const res = ctx.lu.pr.reservation;
  const releasesRoAr = res && res.type !== 1 && res.type !== 3;
  const wasHolder = res && (isAllRegistrants(res.type) ? ctx.lu.pr.registrations.length === 1 : res.holder === me);
  removeRegistrations(ctx, [me], undefined);
  // spc4r37 5.13.11.2.2: releasing an RO/AR reservation tells the other registrants.
  if (wasHolder && releasesRoAr) notifyRegistrants(ctx, ASC.RESERVATIONS_RELEASED);
}

function notifyRegistrants(ctx: Ctx, asc: number): void {
  for (const r of ctx.lu.pr.registrations) {
    ctx.core.queueUaWhere(ctx.cmd.lun, asc, (n) => regMatches(r, n) && n.id !== ctx.nexus.nexus.id);
  }
}

/** Common precondition of RESERVE/RELEASE/CLEAR/PREEMPT: the caller is registered with this key. */
function caller(ctx: Ctx, p: ProutParams): Registration | undefined {
  const me = ctx.lu.registrationOf(ctx.cmd.nexus);
  return me && me.key === p.key ? me : undefined;
}

const reserve: ProutHandler = (ctx, p, type) => {
  const me = caller(ctx, p);
  if (!me) return CONFLICT;
  const res = ctx.lu.pr.reservation;
  if (res) return ctx.lu.isPrHolder(ctx.cmd.nexus) && res.type === type ? GOOD : CONFLICT;
  ctx.lu.pr.reservation = { type, holder: me };
  return GOOD;
};

const release: ProutHandler = (ctx, p, type) => {
  if (!caller(ctx, p)) return CONFLICT;
  const res = ctx.lu.pr.reservation;
  if (!res || !ctx.lu.isPrHolder(ctx.cmd.nexus)) return GOOD;
  if (res.type !== type) return checkCondition(illegalRequest(ASC.INVALID_RELEASE_OF_PR));
  ctx.lu.pr.reservation = undefined;
  if (type !== 1 && type !== 3) notifyRegistrants(ctx, ASC.RESERVATIONS_RELEASED);
  return GOOD;
};

const clear: ProutHandler = (ctx, p) => {
  if (!caller(ctx, p)) return CONFLICT;
  const others = ctx.lu.pr.registrations.filter((r) => !regMatches(r, ctx.cmd.nexus));
  ctx.lu.pr.registrations = [];
  ctx.lu.pr.reservation = undefined;
  for (const r of others) ctx.core.queueUaWhere(ctx.cmd.lun, ASC.RESERVATIONS_PREEMPTED, (n) => regMatches(r, n));
  bump(ctx.lu);
  return GOOD;
};

function preempt(abort: boolean): ProutHandler {
  return (ctx, p, type) => {
    const me = caller(ctx, p);
    if (!me) return CONFLICT;
    const { lu } = ctx;
    const res = lu.pr.reservation;
    let victims: Registration[];
    let takeOver = false;
    if (res && isAllRegistrants(res.type) && p.saKey === 0n) {
      victims = lu.pr.registrations.filter((r) => r !== me);
      takeOver = true;
    } else {
      if (p.saKey === 0n) return checkCondition(invalidFieldInParam(8));
      victims = lu.pr.registrations.filter((r) => r.key === p.saKey && r !== me);
      takeOver = res !== undefined && !isAllRegistrants(res.type) && res.holder.key === p.saKey;
      if (victims.length === 0 && !takeOver) return CONFLICT;
    }
    removeRegistrations(ctx, victims, ASC.REGISTRATIONS_PREEMPTED);
    if (takeOver) lu.pr.reservation = { type, holder: me };
    if (abort && victims.length > 0) abortVictims(ctx, victims);
    bump(lu);
    return GOOD;
  };
}

function abortVictims(ctx: Ctx, victims: Registration[]): void {
  const ids: string[] = [];
  for (const ns of ctx.core.nexuses()) if (victims.some((v) => regMatches(v, ns.nexus))) ids.push(ns.nexus.id);
  if (ids.length > 0) ctx.core.hooks.abortTasks(ids, ctx.cmd.lun);
}

/** REGISTER AND MOVE (spc4r37 5.13.8): hand the reservation to another I_T nexus. */
const registerAndMove: ProutHandler = (ctx, p) => {
  const { lu } = ctx;
  const me = caller(ctx, p);
  if (!me) return CONFLICT;
  const res = lu.pr.reservation;
  if (!res || isAllRegistrants(res.type) || res.holder !== me) return CONFLICT;
  if (p.saKey === 0n) return checkCondition(invalidFieldInParam(8));
  const raw = p.raw;
  const tidLen = raw.readUInt32BE(20);
  if (24 + tidLen > raw.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const dest = decodeTransportId(raw.subarray(24, 24 + tidLen));
  if (!dest) return checkCondition(invalidFieldInParam(24));
  const port = raw.readUInt16BE(18);
  const target: ScsiNexus = { id: '', initiatorName: dest.name, isid: dest.isid, relativeTargetPort: port, targetPortalGroup: 0 };
  if (regMatches(me, target)) return checkCondition(invalidFieldInParam(24));
  let reg = lu.registrationOf(target);
  if (!reg) lu.pr.registrations.push((reg = registrationFor(target, p.saKey, false)));
  else reg.key = p.saKey;
  lu.pr.reservation = { type: res.type, holder: reg };
  if (raw[17]! & 0x02) removeRegistrations(ctx, [me], undefined);
  lu.pr.aptpl = (raw[17]! & 0x01) !== 0;
  bump(lu);
  return GOOD;
};

export function decodeTransportId(t: Buffer): { name: string; isid: string } | undefined {
  if (t.length < 4 || (t[0]! & 0x0f) !== 0x05) return undefined;
  const text = t.subarray(4, 4 + t.readUInt16BE(2)).toString('utf8').replace(/\0.*$/s, '');
  const m = /^(.*),i,0x([0-9a-fA-F]{12})$/.exec(text);
  return m ? { name: m[1]!, isid: m[2]!.toLowerCase() } : (t[0]! & 0xc0) === 0 ? { name: text, isid: '' } : undefined;
}

const PROUT: Record<number, { run: ProutHandler; needsType: boolean }> = {
  0: { run: register(false), needsType: false },
  1: { run: reserve, needsType: true },
  2: { run: release, needsType: true },
  3: { run: clear, needsType: false },
  4: { run: preempt(false), needsType: true },
  5: { run: preempt(true), needsType: true },
  6: { run: register(true), needsType: false },
  7: { run: registerAndMove, needsType: false },
};

export async function persistentReserveOut(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const sa = cdb[1]! & 0x1f;
  const row = PROUT[sa];
  if (!row) return checkCondition(invalidFieldInCdb(1, 4));
  const scope = cdb[2]! >> 4;
  const type = cdb[2]! & 0x0f;
  if (row.needsType && (scope !== 0 || !PR_TYPES.includes(type))) return checkCondition(invalidFieldInCdb(2));
  const len = cdb.readUInt32BE(5);
  const raw = (ctx.cmd.dataOut ?? Buffer.alloc(0)).subarray(0, len);
  if (sa === 7 ? len < 24 || raw.length < 24 : len !== 24 || raw.length !== 24) {
    return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  }
  const p: ProutParams = {
    key: raw.readBigUInt64BE(0),
    saKey: raw.readBigUInt64BE(8),
    specIPt: sa !== 7 && (raw[20]! & 0x08) !== 0,
    allTgPt: sa !== 7 && (raw[20]! & 0x04) !== 0,
    aptpl: (sa === 7 ? raw[17]! : raw[20]!) & 0x01 ? true : false,
    raw,
  };
  const before = lu.pr.aptpl;
  const reply = await row.run(ctx, p, type);
  if (reply.status === 0 && (lu.pr.aptpl || before)) await ctx.core.savePr(lu);
  return reply;
}
