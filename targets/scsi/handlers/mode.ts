/**
 * MODE SENSE 6/10 and MODE SELECT 6/10 (spc4r37 6.11-6.14, 7.5): caching
 * (0x08), control (0x0A) and informational exceptions (0x1C) pages, block
 * descriptors (short and LLBAA long), page controls current / changeable /
 * default. Saved parameters are not supported (SAVING PARAMETERS NOT SUPPORTED).
 */
import { checkCondition, dataIn, GOOD, type Ctx, type Reply } from '../command.js';
import { ASC } from '../constants.js';
import { defaultMode, type LuState, type ModeState } from '../lu.js';
import { illegalRequest, invalidFieldInCdb, invalidFieldInParam, PARAMETER_LIST_LENGTH_ERROR } from '../sense.js';

interface PageDef {
  code: number;
  /** Page bytes (header included) for a given parameter set. */
  build(m: ModeState): Buffer;
  /** Changeable-bits mask, same layout. */
  changeable: Buffer;
  apply(m: ModeState, page: Buffer): void;
}

function cachingPage(m: ModeState): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0x08;
  b[1] = 18;
  b[2] = m.wce ? 0x04 : 0; // WCE; RCD = 0 (read cache on)
  return b;
}

function controlPage(m: ModeState): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x0a;
  b[1] = 10;
  b[2] = m.dsense ? 0x04 : 0; // TST=000b (one task set), D_SENSE
  b[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1 (unrestricted), QERR 00b
  b[4] = m.swp ? 0x08 : 0;
  b[5] = 0x40; // TAS: aborted tasks get TASK ABORTED status
  b.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
  return b;
}

function infoExceptionsPage(m: ModeState): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x1c;
  b[1] = 10;
  b[3] = m.mrie & 0x0f;
  return b;
}

function mask(len: number, bits: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(len);
  for (const [at, v] of bits) b[at] = v;
  return b;
}

const PAGES: readonly PageDef[] = [
  { code: 0x08, build: cachingPage, changeable: mask(20, [[2, 0x04]]), apply: (m, p) => void (m.wce = (p[2]! & 0x04) !== 0) },
  {
    code: 0x0a,
    build: controlPage,
    changeable: mask(12, [[2, 0x04], [4, 0x08]]),
    apply: (m, p) => {
      m.dsense = (p[2]! & 0x04) !== 0;
      m.swp = (p[4]! & 0x08) !== 0;
    },
  },
  { code: 0x1c, build: infoExceptionsPage, changeable: mask(12, []), apply: () => undefined },
];

function pageBytes(def: PageDef, pc: number, lu: LuState): Buffer {
  if (pc === 1) return Buffer.concat([def.build(defaultMode(lu.handle)).subarray(0, 2), def.changeable.subarray(2)]);
  return def.build(pc === 2 ? defaultMode(lu.handle) : lu.mode);
}

function blockDescriptor(lu: LuState, long: boolean): Buffer {
  const blocks = lu.blocks;
  if (long) {
    const b = Buffer.alloc(16);
    b.writeBigUInt64BE(blocks, 0);
    b.writeUInt32BE(lu.blockSize, 12);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeUInt32BE(blocks > 0xffffffffn ? 0xffffffff : Number(blocks), 0);
  b.writeUIntBE(lu.blockSize, 5, 3);
  return b;
}

export function modeSense(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  const ten = cdb[0] === 0x5a;
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = ten && (cdb[1]! & 0x10) !== 0;
  const pc = cdb[2]! >> 6;
  const code = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  const alloc = ten ? cdb.readUInt16BE(7) : cdb[4]!;
  if (pc === 3) return checkCondition(illegalRequest(ASC.SAVING_PARAMETERS_NOT_SUPPORTED));
  const defs = code === 0x3f ? PAGES : PAGES.filter((p) => p.code === code);
  if (defs.length === 0) return checkCondition(invalidFieldInCdb(2, 5));
  if (subpage !== 0 && !(code === 0x3f && subpage === 0xff)) return checkCondition(invalidFieldInCdb(3));
  const bd = dbd ? Buffer.alloc(0) : blockDescriptor(lu, llbaa);
  const pages = Buffer.concat(defs.map((d) => pageBytes(d, pc, lu)));
  const dsp = (lu.readOnly ? 0x80 : 0) | 0x10; // WP, DPOFUA (sbc4r15 6.5.1)
  const hdr = Buffer.alloc(ten ? 8 : 4);
  if (ten) {
    hdr.writeUInt16BE(6 + bd.length + pages.length, 0);
    hdr[3] = dsp;
    hdr[4] = llbaa ? 0x01 : 0;
    hdr.writeUInt16BE(bd.length, 6);
  } else {
    hdr[0] = Math.min(0xff, 3 + bd.length + pages.length);
    hdr[2] = dsp;
    hdr[3] = bd.length;
  }
  return dataIn(Buffer.concat([hdr, bd, pages]), alloc);
}

/** Validate one page against the changeable mask; returns a reply on error. */
function checkPage(def: PageDef, page: Buffer, current: Buffer, at: number): Reply | undefined {
  if (page.length !== current.length || page[1] !== current[1]) return checkCondition(invalidFieldInParam(at + 1));
  for (let i = 2; i < page.length; i++) {
    if ((page[i]! ^ current[i]!) & ~def.changeable[i]!) return checkCondition(invalidFieldInParam(at + i));
  }
  return undefined;
}

export function modeSelect(ctx: Ctx): Reply {
  const { cdb, lu } = ctx;
  const ten = cdb[0] === 0x55;
  if (cdb[1]! & 0x01) return checkCondition(invalidFieldInCdb(1, 0)); // SP: no saved pages
  const len = ten ? cdb.readUInt16BE(7) : cdb[4]!;
  if (len === 0) return GOOD;
  const p = (ctx.cmd.dataOut ?? Buffer.alloc(0)).subarray(0, len);
  const hlen = ten ? 8 : 4;
  if (p.length < hlen) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const bdLen = ten ? p.readUInt16BE(6) : p[3]!;
  if (hlen + bdLen > p.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  if (bdLen !== 0 && bdLen !== 8 && bdLen !== 16) return checkCondition(invalidFieldInParam(ten ? 6 : 3));
  if (bdLen > 0) {
    const bl = bdLen === 16 ? p.readUInt32BE(hlen + 12) : p.readUIntBE(hlen + 5, 3);
    if (bl !== lu.blockSize) return checkCondition(invalidFieldInParam(hlen + bdLen - 1));
  }
  const next: ModeState = { ...lu.mode };
  for (let at = hlen + bdLen; at < p.length; ) {
    if (at + 2 > p.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const def = PAGES.find((d) => d.code === (p[at]! & 0x3f));
    if (!def || p[at]! & 0x40) return checkCondition(invalidFieldInParam(at));
    const end = at + 2 + p[at + 1]!;
    if (end > p.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const page = Buffer.from(p.subarray(at, end));
    page[0]! &= 0x3f; // PS is reserved in MODE SELECT data
    const bad = checkPage(def, page, def.build(lu.mode), at);
    if (bad) return bad;
    def.apply(next, page);
    at = end;
  }
  const changed = JSON.stringify(next) !== JSON.stringify(lu.mode);
  lu.mode = next;
  // spc4r37 7.5.1: other I_T nexuses learn of the change by unit attention.
  if (changed) ctx.core.queueUa(ctx.cmd.lun, ASC.MODE_PARAMETERS_CHANGED, ctx.nexus.nexus.id);
  return GOOD;
}
