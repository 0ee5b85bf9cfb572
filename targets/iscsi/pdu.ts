/**
 * Pure iSCSI PDU codec (RFC 7143 §11). Every opcode is described by one row
 * of `LAYOUTS`: the bit fields of byte 1 and the fixed-position fields of
 * bytes 8..47. `decodePdu` and `encodePdu` interpret the table, so adding an
 * opcode means adding a row, and decode∘encode is the identity by
 * construction (see test/unit/iscsi/pdu.test.ts).
 *
 * Neither function throws on wire input: `decodePdu` returns a PduViolation.
 */
import { BHS_BYTES, Op } from './constants.js';
import type { AhsSegment, Draft, Pdu, PduViolation, ScsiCommandPdu } from './pdu-types.js';
import { RejectReason } from './constants.js';

type FieldKind = 'u8' | 'u16' | 'u32' | 'lun' | 'isid' | 'cdb16';
type Field = readonly [name: string, at: number, kind: FieldKind];
/** [name, mask, shift]; a one-bit mask decodes as boolean. */
type Bit = readonly [name: string, mask: number, shift: number];

interface Layout {
  bits: readonly Bit[];
  fields: readonly Field[];
}

const F: Bit = ['final', 0x80, 7];
const STD_SN: readonly Field[] = [['statSN', 24, 'u32'], ['expCmdSN', 28, 'u32'], ['maxCmdSN', 32, 'u32']];

/** RFC 7143 §11.x, one row per opcode. ITT (bytes 16..19) is common to all. */
const LAYOUTS: Record<number, Layout> = {
  [Op.NOP_OUT]: { bits: [F], fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32']] },
  [Op.SCSI_CMD]: {
    bits: [F, ['read', 0x40, 6], ['write', 0x20, 5], ['attr', 0x07, 0]],
    fields: [['lun', 8, 'lun'], ['expectedDataTransferLength', 20, 'u32'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32'], ['cdb', 32, 'cdb16']],
  },
  [Op.TMF_REQ]: {
    bits: [F, ['function', 0x7f, 0]],
    fields: [['lun', 8, 'lun'], ['referencedTaskTag', 20, 'u32'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32'], ['refCmdSN', 32, 'u32'], ['expDataSN', 36, 'u32']],
  },
  [Op.LOGIN_REQ]: {
    bits: [['transit', 0x80, 7], ['cont', 0x40, 6], ['csg', 0x0c, 2], ['nsg', 0x03, 0]],
    fields: [['versionMax', 2, 'u8'], ['versionMin', 3, 'u8'], ['isid', 8, 'isid'], ['tsih', 14, 'u16'], ['cid', 20, 'u16'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32']],
  },
  [Op.TEXT_REQ]: { bits: [F, ['cont', 0x40, 6]], fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32']] },
  [Op.DATA_OUT]: {
    bits: [F],
    fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ['expStatSN', 28, 'u32'], ['dataSN', 36, 'u32'], ['bufferOffset', 40, 'u32']],
  },
  [Op.LOGOUT_REQ]: { bits: [F, ['reason', 0x7f, 0]], fields: [['cid', 20, 'u16'], ['cmdSN', 24, 'u32'], ['expStatSN', 28, 'u32']] },
  [Op.SNACK]: {
    bits: [F, ['type', 0x0f, 0]],
    fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ['expStatSN', 28, 'u32'], ['begRun', 40, 'u32'], ['runLength', 44, 'u32']],
  },
  [Op.NOP_IN]: { bits: [F], fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ...STD_SN] },
  [Op.SCSI_RESP]: {
    bits: [F, ['bidiOverflow', 0x10, 4], ['bidiUnderflow', 0x08, 3], ['overflow', 0x04, 2], ['underflow', 0x02, 1]],
    fields: [
      ['response', 2, 'u8'], ['status', 3, 'u8'], ['snackTag', 20, 'u32'], ...STD_SN,
      ['expDataSN', 36, 'u32'], ['bidiResidualCount', 40, 'u32'], ['residualCount', 44, 'u32'],
    ],
  },
  [Op.TMF_RESP]: { bits: [F], fields: [['response', 2, 'u8'], ...STD_SN] },
  [Op.LOGIN_RESP]: {
    bits: [['transit', 0x80, 7], ['cont', 0x40, 6], ['csg', 0x0c, 2], ['nsg', 0x03, 0]],
    fields: [
      ['versionMax', 2, 'u8'], ['versionActive', 3, 'u8'], ['isid', 8, 'isid'], ['tsih', 14, 'u16'], ...STD_SN,
      ['statusClass', 36, 'u8'], ['statusDetail', 37, 'u8'],
    ],
  },
  [Op.TEXT_RESP]: { bits: [F, ['cont', 0x40, 6]], fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ...STD_SN] },
  [Op.DATA_IN]: {
    bits: [F, ['ack', 0x40, 6], ['overflow', 0x04, 2], ['underflow', 0x02, 1], ['hasStatus', 0x01, 0]],
    fields: [
      ['status', 3, 'u8'], ['lun', 8, 'lun'], ['ttt', 20, 'u32'], ...STD_SN,
      ['dataSN', 36, 'u32'], ['bufferOffset', 40, 'u32'], ['residualCount', 44, 'u32'],
    ],
  },
  [Op.LOGOUT_RESP]: { bits: [F], fields: [['response', 2, 'u8'], ...STD_SN, ['time2Wait', 40, 'u16'], ['time2Retain', 42, 'u16']] },
  [Op.R2T]: {
    bits: [F],
    fields: [['lun', 8, 'lun'], ['ttt', 20, 'u32'], ...STD_SN, ['r2tSN', 36, 'u32'], ['bufferOffset', 40, 'u32'], ['desiredDataTransferLength', 44, 'u32']],
  },
  [Op.ASYNC]: {
    bits: [F],
    fields: [
      ['lun', 8, 'lun'], ...STD_SN, ['asyncEvent', 36, 'u8'], ['asyncVCode', 37, 'u8'],
      ['parameter1', 38, 'u16'], ['parameter2', 40, 'u16'], ['parameter3', 42, 'u16'],
    ],
  },
  [Op.REJECT]: { bits: [F], fields: [['reason', 2, 'u8'], ...STD_SN, ['dataSN', 36, 'u32']] },
};

/** The fields common to every BHS (RFC 7143 §11.2.1). */
export interface Bhs {
  opcode: number;
  immediate: boolean;
  /** In bytes (the wire counts 4-byte words). */
  totalAhsBytes: number;
  dataSegmentLength: number;
  itt: number;
}

/** Precondition: `bhs.length >= 48`. */
export function decodeBhs(bhs: Buffer): Bhs {
  return {
    opcode: bhs[0]! & 0x3f,
    immediate: (bhs[0]! & 0x40) !== 0,
    totalAhsBytes: bhs[4]! * 4,
    dataSegmentLength: bhs.readUIntBE(5, 3),
    itt: bhs.readUInt32BE(16),
  };
}

export function isKnownOpcode(opcode: number): boolean {
  return LAYOUTS[opcode] !== undefined;
}

/**
 * Decode one framed PDU. `bhs` is exactly 48 bytes, `ahs` the AHS bytes
 * (length = TotalAHSLength * 4), `data` the data segment without padding.
 */
export function decodePdu(bhs: Buffer, ahs: Buffer, data: Buffer): Pdu | PduViolation {
  const common = decodeBhs(bhs);
  const layout = LAYOUTS[common.opcode];
  if (!layout) return { violation: 'unknown-opcode', fatal: false, rejectReason: RejectReason.COMMAND_NOT_SUPPORTED, bhs };
  const segments = decodeAhs(ahs);
  if (!segments) return { violation: 'bad-ahs', fatal: false, rejectReason: RejectReason.INVALID_PDU_FIELD, bhs };
  const pdu: Record<string, unknown> = { opcode: common.opcode, immediate: common.immediate, itt: common.itt, ahs: segments, data };
  const b1 = bhs[1]!;
  for (const [name, mask, shift] of layout.bits) {
    const v = (b1 & mask) >>> shift;
    pdu[name] = mask >>> shift === 1 ? v === 1 : v;
  }
  for (const [name, at, kind] of layout.fields) pdu[name] = readField(bhs, at, kind);
  if (common.opcode === Op.SCSI_CMD) return finishScsiCommand(pdu as unknown as ScsiCommandPdu, bhs);
  return pdu as unknown as Pdu;
}

function finishScsiCommand(pdu: ScsiCommandPdu, bhs: Buffer): ScsiCommandPdu | PduViolation {
  for (const seg of pdu.ahs) {
    if (seg.type === 1) {
      // §11.2.2.3: one reserved byte, then the CDB bytes beyond the first 16.
      pdu.cdb = Buffer.concat([pdu.cdb, seg.body.subarray(1)]);
    } else if (seg.type === 2) {
      if (seg.body.length < 5) return { violation: 'bad-ahs', fatal: false, rejectReason: RejectReason.INVALID_PDU_FIELD, bhs };
      pdu.bidiReadLength = seg.body.readUInt32BE(1);
    }
  }
  return pdu;
}

function readField(bhs: Buffer, at: number, kind: FieldKind): unknown {
  switch (kind) {
    case 'u8':
      return bhs[at]!;
    case 'u16':
      return bhs.readUInt16BE(at);
    case 'u32':
      return bhs.readUInt32BE(at);
    case 'lun':
      return bhs.readBigUInt64BE(at);
    case 'isid':
      return bhs.toString('hex', at, at + 6);
    case 'cdb16':
      return bhs.subarray(at, at + 16);
  }
}

function writeField(bhs: Buffer, at: number, kind: FieldKind, value: unknown): void {
  switch (kind) {
    case 'u8':
      bhs[at] = Number(value ?? 0) & 0xff;
      return;
    case 'u16':
      bhs.writeUInt16BE(Number(value ?? 0) & 0xffff, at);
      return;
    case 'u32':
      bhs.writeUInt32BE(Number(value ?? 0) >>> 0, at);
      return;
    case 'lun':
      bhs.writeBigUInt64BE(BigInt.asUintN(64, (value as bigint | undefined) ?? 0n), at);
      return;
    case 'isid':
      Buffer.from(String(value ?? '').padStart(12, '0').slice(0, 12), 'hex').copy(bhs, at);
      return;
    case 'cdb16':
      (value as Buffer | undefined)?.copy(bhs, at, 0, 16);
      return;
  }
}

/** Parse the AHS area (§11.2.2); undefined when lengths do not add up. */
export function decodeAhs(ahs: Buffer): AhsSegment[] | undefined {
  const out: AhsSegment[] = [];
  let at = 0;
  while (at < ahs.length) {
    if (at + 4 > ahs.length) return undefined;
    const len = ahs.readUInt16BE(at);
    const end = at + 3 + len;
    if (len === 0 || end > ahs.length) return undefined;
    out.push({ type: ahs[at + 2]!, body: ahs.subarray(at + 3, end) });
    at = at + ((3 + len + 3) & ~3);
  }
  return out;
}

function encodeAhs(segments: readonly AhsSegment[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of segments) {
    const padded = (3 + s.body.length + 3) & ~3;
    const b = Buffer.alloc(padded);
    b.writeUInt16BE(s.body.length, 0);
    b[2] = s.type;
    s.body.copy(b, 3);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

export function padBytes(length: number): number {
  return (4 - (length & 3)) & 3;
}

/**
 * Encode the BHS (+AHS) of `pdu` into a fresh Buffer. The data segment is not
 * copied: `encodePdu` returns it as a separate iovec element. `dataLength`
 * overrides the DataSegmentLength for data sent from elsewhere (sendfile).
 */
export function encodeHeader(pdu: Draft<Pdu>, dataLength = pdu.data?.length ?? 0): Buffer {
  const layout = LAYOUTS[pdu.opcode]!;
  const ahs = pdu.ahs?.length ? encodeAhs(pdu.ahs) : undefined;
  const bhs = Buffer.alloc(BHS_BYTES + (ahs?.length ?? 0));
  const p = pdu as unknown as Record<string, unknown>;
  bhs[0] = pdu.opcode | (pdu.immediate ? 0x40 : 0);
  let b1 = 0;
  for (const [name, mask, shift] of layout.bits) b1 |= (Number(p[name] ?? 0) << shift) & mask;
  bhs[1] = b1;
  for (const [name, at, kind] of layout.fields) writeField(bhs, at, kind, p[name]);
  bhs.writeUInt32BE((pdu.itt ?? 0xffffffff) >>> 0, 16);
  if (ahs) {
    bhs[4] = ahs.length / 4;
    ahs.copy(bhs, BHS_BYTES);
  }
  bhs.writeUIntBE(dataLength, 5, 3);
  return bhs;
}

const PAD = [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)];
export { PAD as PADDING };
