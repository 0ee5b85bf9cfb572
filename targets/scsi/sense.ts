/**
 * Sense data: the one place that turns a failure description into bytes,
 * and the one table mapping backend BlockError kinds to sense
 * (the role of LIO's `sense_detail_table`).
 *
 * Handlers describe failures as `SenseSpec` values and never build bytes:
 * the format (fixed 0x70 or descriptor 0x72) depends on the D_SENSE bit of
 * the LUN's control mode page, known only to the dispatcher.
 */
import type { BlockErrorKind } from '../../src/block/device.js';
import { ASC, SENSE_KEY } from './constants.js';

/** spc4r37 4.5.2.4.2: where in the CDB or parameter list the bad field is. */
export interface FieldPointer {
  /** true: the field is in the CDB (C/D = 1); false: in the parameter data. */
  cdb: boolean;
  byte: number;
  /** Bit within the byte; omitted when the whole byte is wrong. */
  bit?: number;
}

export interface SenseSpec {
  key: number;
  /** ASC << 8 | ASCQ. */
  asc: number;
  /** INFORMATION field (an LBA, or a miscompare offset). */
  information?: bigint;
  field?: FieldPointer;
}

const FIXED_LENGTH = 18;

/** spc4r37 4.5.3: fixed format sense data. */
export function encodeFixedSense(spec: SenseSpec): Buffer {
  const b = Buffer.alloc(FIXED_LENGTH);
  b[0] = 0x70;
  b[2] = spec.key & 0x0f;
  // A 32-bit INFORMATION field cannot carry a larger value: VALID stays 0.
  if (spec.information !== undefined && spec.information <= 0xffffffffn) {
    b[0] |= 0x80;
    b.writeUInt32BE(Number(spec.information), 3);
  }
  b[7] = FIXED_LENGTH - 8;
  b[12] = spec.asc >> 8;
  b[13] = spec.asc & 0xff;
  if (spec.field) encodeFieldPointer(spec.field, b, 15);
  return b;
}

/** spc4r37 4.5.2: descriptor format sense data. */
export function encodeDescriptorSense(spec: SenseSpec): Buffer {
  const parts: Buffer[] = [Buffer.alloc(8)];
  const h = parts[0]!;
  h[0] = 0x72;
  h[1] = spec.key & 0x0f;
  h[2] = spec.asc >> 8;
  h[3] = spec.asc & 0xff;
  if (spec.information !== undefined) {
    // 4.5.2.2 information sense data descriptor
    const d = Buffer.alloc(12);
    d[0] = 0x00;
    d[1] = 0x0a;
    d[2] = 0x80;
    d.writeBigUInt64BE(spec.information, 4);
    parts.push(d);
  }
  if (spec.field) {
    // 4.5.2.4 sense key specific sense data descriptor
    const d = Buffer.alloc(8);
    d[0] = 0x02;
    d[1] = 0x06;
    encodeFieldPointer(spec.field, d, 4);
    parts.push(d);
  }
  const out = Buffer.concat(parts);
  out[7] = out.length - 8;
  return out;
}

export function encodeSense(spec: SenseSpec, descriptor: boolean): Buffer {
  return descriptor ? encodeDescriptorSense(spec) : encodeFixedSense(spec);
}

function encodeFieldPointer(f: FieldPointer, b: Buffer, at: number): void {
  b[at] = 0x80 | (f.cdb ? 0x40 : 0) | (f.bit !== undefined ? 0x08 | (f.bit & 7) : 0);
  b.writeUInt16BE(f.byte & 0xffff, at + 1);
}

/** The response code (0x70..0x73) and key/asc of raw sense bytes, for tests and REQUEST SENSE. */
export function decodeSense(b: Buffer): { descriptor: boolean; key: number; asc: number; information?: bigint } {
  const descriptor = (b[0]! & 0x7f) >= 0x72;
  if (descriptor) {
    let information: bigint | undefined;
    for (let at = 8; at + 1 < b.length; at += 2 + b[at + 1]!) {
      if (b[at] === 0x00 && at + 12 <= b.length) information = b.readBigUInt64BE(at + 4);
    }
    return { descriptor, key: b[1]! & 0x0f, asc: (b[2]! << 8) | b[3]!, information };
  }
  const information = b[0]! & 0x80 ? BigInt(b.readUInt32BE(3)) : undefined;
  return { descriptor, key: b[2]! & 0x0f, asc: (b[12]! << 8) | b[13]!, information };
}

// ---- common failures -------------------------------------------------------

export function invalidFieldInCdb(byte: number, bit?: number): SenseSpec {
  return { key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: { cdb: true, byte, bit } };
}

export function invalidFieldInParam(byte: number, bit?: number): SenseSpec {
  return { key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_PARAMETER_LIST, field: { cdb: false, byte, bit } };
}

export function illegalRequest(asc: number): SenseSpec {
  return { key: SENSE_KEY.ILLEGAL_REQUEST, asc };
}

export const LBA_OUT_OF_RANGE: SenseSpec = illegalRequest(ASC.LBA_OUT_OF_RANGE);
export const PARAMETER_LIST_LENGTH_ERROR: SenseSpec = illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
export const INVALID_OPCODE: SenseSpec = illegalRequest(ASC.INVALID_OPERATION_CODE);
export const WRITE_PROTECTED: SenseSpec = { key: SENSE_KEY.DATA_PROTECT, asc: ASC.WRITE_PROTECTED };
export const INTERNAL_TARGET_FAILURE: SenseSpec = { key: SENSE_KEY.HARDWARE_ERROR, asc: ASC.INTERNAL_TARGET_FAILURE };

export function miscompare(offsetBytes: number): SenseSpec {
  return { key: SENSE_KEY.MISCOMPARE, asc: ASC.MISCOMPARE_DURING_VERIFY, information: BigInt(offsetBytes) };
}

/**
 * BlockError kind → sense (sbc4r15 4.18, spc4r37 annex D). `write` picks the
 * medium-error ASC; `lba` fills INFORMATION for medium errors (sbc4r15 4.18.2).
 */
const BLOCK_ERROR_SENSE: Record<BlockErrorKind, (write: boolean) => SenseSpec> = {
  EIO: (w) => ({ key: SENSE_KEY.MEDIUM_ERROR, asc: w ? ASC.WRITE_ERROR : ASC.UNRECOVERED_READ_ERROR }),
  ENOSPC: () => ({ key: SENSE_KEY.DATA_PROTECT, asc: ASC.SPACE_ALLOC_FAILED_WRITE_PROTECT }),
  EROFS: () => WRITE_PROTECTED,
  EPERM: () => WRITE_PROTECTED,
  EINVAL: () => illegalRequest(ASC.INVALID_FIELD_IN_CDB),
  ENOTSUP: () => illegalRequest(ASC.INVALID_FIELD_IN_CDB),
  ESHUTDOWN: () => ({ key: SENSE_KEY.NOT_READY, asc: ASC.LUN_NOT_READY_MANUAL_INTERVENTION }),
  EOVERFLOW: () => LBA_OUT_OF_RANGE,
  ETIMEDOUT: () => ({ key: SENSE_KEY.ABORTED_COMMAND, asc: ASC.NO_ADDITIONAL_SENSE }),
};

export function blockErrorSense(kind: BlockErrorKind, write: boolean, lba?: bigint): SenseSpec {
  const s = BLOCK_ERROR_SENSE[kind](write);
  return kind === 'EIO' && lba !== undefined ? { ...s, information: lba } : s;
}

export const BLOCK_ERROR_KINDS = Object.keys(BLOCK_ERROR_SENSE) as BlockErrorKind[];
