/**
 * INQUIRY: standard data (spc4r37 6.6.2) and the VPD pages we support
 * (spc4r37 7.8, sbc4r15 6.6). Every page is built whole and truncated to
 * the ALLOCATION LENGTH; lengths inside the data never change with it.
 */
import { checkCondition, dataIn, type Ctx, type Reply } from '../command.js';
import { VERSION_DESCRIPTOR } from '../constants.js';
import { maxTransferBlocks } from '../io.js';
import type { LuState } from '../lu.js';
import { invalidFieldInCdb } from '../sense.js';
import { LIMITS } from './lbp.js';
import { maxAtomicBlocks } from './rw.js';
import { sanitizeBlockEraseOffered } from './sanitize.js';
import { thirdPartyCopyVpd } from './xcopy.js';

const STANDARD_LENGTH = 74;
/** iSCSI protocol identifier (spc4r37 table 362), for designators with PIV=1. */
const PROTOCOL_ISCSI = 0x5;

function ascii(b: Buffer, at: number, len: number, s: string): void {
  b.fill(0x20, at, at + len);
  b.write(s.replace(/[^\x20-\x7e]/g, ' ').slice(0, len), at, 'latin1');
}

function standard(lu: LuState | undefined): Buffer {
  const b = Buffer.alloc(STANDARD_LENGTH);
  if (!lu) {
    b[0] = 0x7f; // PERIPHERAL QUALIFIER 011b, type 1Fh: no LU at this LUN (spc4r37 6.6.2)
    b[2] = 0x06;
    b[3] = 0x02;
    b[4] = 31;
    return b.subarray(0, 36);
  }
  const p = lu.handle.params;
  b[0] = 0x00; // direct access block device
  b[1] = p.removable ? 0x80 : 0;
  b[2] = 0x06; // SPC-4
  b[3] = 0x10 | 0x02; // HISUP, response data format 2
  b[4] = STANDARD_LENGTH - 5;
  b[5] = 0x10 | 0x08; // TPGS=01b implicit ALUA, 3PC (EXTENDED COPY)
  b[7] = 0x02; // CMDQUE
  ascii(b, 8, 8, p.vendorId);
  ascii(b, 16, 16, p.productId);
  ascii(b, 32, 4, p.productRev);
  const versions = [VERSION_DESCRIPTOR.SAM5, VERSION_DESCRIPTOR.ISCSI, VERSION_DESCRIPTOR.SPC4, VERSION_DESCRIPTOR.SBC3];
  versions.forEach((v, i) => b.writeUInt16BE(v, 58 + i * 2));
  return b;
}

function page(code: number, body: Buffer, lu: LuState | undefined): Buffer {
  const h = Buffer.alloc(4);
  h[0] = lu ? 0x00 : 0x7f;
  h[1] = code;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function designator(codeSet: number, assoc: number, type: number, value: Buffer, protocol?: number): Buffer {
  const d = Buffer.alloc(4 + value.length);
  d[0] = ((protocol ?? 0) << 4) | codeSet;
  d[1] = (protocol !== undefined ? 0x80 : 0) | (assoc << 4) | type;
  d[3] = value.length;
  value.copy(d, 4);
  return d;
}

/**
 * NAA IEEE Registered Extended (NAA 6, spc4r37 7.8.6.6.5): 16 bytes, NAA,
 * IEEE COMPANY ID, VENDOR SPECIFIC IDENTIFIER and its EXTENSION, all laid
 * out in `naaId` (32 hex digits, src/worker/lun-identity.ts).
 */
export function naaDesignator(naaId: string): Buffer {
  const v = Buffer.from(naaId.padEnd(32, '0').slice(0, 32), 'hex');
  v[0] = (v[0]! & 0x0f) | 0x60;
  return v;
}

/** T10 vendor identification (spc4r37 7.8.6.6.4): the explicit scsi_id, else T10 VENDOR IDENTIFICATION + serial. */
function t10Designator(p: LuState['handle']['params']): Buffer {
  if (p.t10Id !== undefined) return Buffer.from(p.t10Id.replace(/[^\x20-\x7e]/g, ' ').slice(0, 252), 'latin1');
  const serial = p.serial.replace(/[^\x20-\x7e]/g, ' ').slice(0, 244);
  const t10 = Buffer.alloc(8 + serial.length);
  ascii(t10, 0, 8, p.vendorId);
  t10.write(serial, 8, 'latin1');
  return t10;
}

function deviceIdentification(ctx: Ctx<LuState | undefined>, lu: LuState): Buffer {
  const p = lu.handle.params;
  const port = Buffer.alloc(4);
  port.writeUInt16BE(ctx.cmd.nexus.relativeTargetPort & 0xffff, 2);
  const tpg = Buffer.alloc(4);
  tpg.writeUInt16BE(ctx.cmd.nexus.targetPortalGroup & 0xffff, 2);
  return Buffer.concat([
    designator(1, 0, 3, naaDesignator(p.naaId)),
    designator(2, 0, 1, t10Designator(p)),
    designator(1, 1, 4, port, PROTOCOL_ISCSI),
    designator(1, 1, 5, tpg, PROTOCOL_ISCSI),
  ]);
}

function blockLimits(lu: LuState): Buffer {
  const b = Buffer.alloc(0x3c);
  const info = lu.handle.device.info;
  b[1] = LIMITS.maxCompareAndWriteBlocks; // byte 5 of the page
  // OPTIMAL TRANSFER LENGTH GRANULARITY carries the physical block size hint (see README).
  b.writeUInt16BE(Math.max(1, Math.floor(info.physicalBlockSize / info.blockSize)), 2);
  b.writeUInt32BE(maxTransferBlocks(lu), 4);
  b.writeUInt32BE(Math.min(maxTransferBlocks(lu), Math.floor((1 << 20) / info.blockSize)), 8);
  if (lu.thin) {
    b.writeUInt32BE(LIMITS.maxUnmapLbaCount, 16);
    b.writeUInt32BE(LIMITS.maxUnmapDescriptors, 20);
    b.writeUInt32BE(1, 24); // OPTIMAL UNMAP GRANULARITY
  }
  b.writeBigUInt64BE(BigInt(LIMITS.maxWriteSameBlocks), 32);
  b.writeUInt32BE(maxAtomicBlocks(lu), 40); // MAXIMUM ATOMIC TRANSFER LENGTH; alignment/granularity 0
  return b;
}

function characteristics(lu: LuState): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(1, 0); // MEDIUM ROTATION RATE 1: non-rotating
  // WABEREQ 01b (reads after SANITIZE BLOCK ERASE succeed) only where BLOCK ERASE is offered, else 00b; NOMINAL FORM FACTOR: < 1.8 inch
  b[3] = (sanitizeBlockEraseOffered(lu) ? 0x40 : 0) | 0x05;
  return b;
}

function provisioning(lu: LuState): Buffer {
  const b = Buffer.alloc(4);
  if (lu.thin) {
    b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ=001b
    b[2] = 0x02; // PROVISIONING TYPE: thin
  }
  return b;
}

type VpdBuilder = (ctx: Ctx<LuState | undefined>, lu: LuState) => Buffer;

/** Supported VPD pages, ascending (spc4r37 7.8.13 requires the order). */
const VPD: ReadonlyArray<[number, VpdBuilder]> = [
  [0x00, () => Buffer.from(VPD.map(([c]) => c))],
  [0x80, (_c, lu) => Buffer.from(lu.handle.params.serial.replace(/[^\x20-\x7e]/g, ' '), 'latin1')],
  [0x83, deviceIdentification],
  [0x8f, () => thirdPartyCopyVpd()],
  [0xb0, (_c, lu) => blockLimits(lu)],
  [0xb1, (_c, lu) => characteristics(lu)],
  [0xb2, (_c, lu) => provisioning(lu)],
];

export function inquiry(ctx: Ctx<LuState | undefined>): Reply {
  const { cdb, lu } = ctx;
  const evpd = cdb[1]! & 0x01;
  const code = cdb[2]!;
  const alloc = cdb.readUInt16BE(3);
  if (cdb[1]! & 0xfe) return checkCondition(invalidFieldInCdb(1, cdb[1]! & 0x02 ? 1 : 2));
  if (!evpd) {
    if (code !== 0) return checkCondition(invalidFieldInCdb(2));
    return dataIn(standard(lu), alloc);
  }
  const row = VPD.find(([c]) => c === code);
  if (!row) return checkCondition(invalidFieldInCdb(2));
  if (!lu) return dataIn(page(code, Buffer.alloc(0), lu), alloc);
  return dataIn(page(code, row[1](ctx, lu), lu), alloc);
}

export function allocXfer16At3(cdb: Buffer): number {
  return cdb.readUInt16BE(3);
}
