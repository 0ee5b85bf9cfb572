/**
 * Typed iSCSI PDUs (RFC 7143 §11). One interface per opcode; field names
 * follow the RFC (`cmdSN`, `expStatSN`, `itt`, `ttt`, ...). 32-bit fields are
 * unsigned numbers; the 8-byte LUN field is kept raw as a bigint (decode with
 * `lunToNumber`), the ISID as 12 hex digits.
 *
 * Buffer ownership: decoded `data` and `cdb` are views into the framer's
 * buffers; a consumer that keeps them past the current event-loop turn must
 * not expect them to be copied (the framer never reuses its buffers, so
 * keeping a view is safe).
 */
import type { Op } from './constants.js';

export interface AhsSegment {
  type: number;
  /** AHS-specific bytes after the type byte (includes the reserved byte). */
  body: Buffer;
}

interface Common {
  immediate: boolean;
  itt: number;
  ahs: AhsSegment[];
  data: Buffer;
}

export interface NopOut extends Common { opcode: typeof Op.NOP_OUT; final: boolean; lun: bigint; ttt: number; cmdSN: number; expStatSN: number }
export interface ScsiCommandPdu extends Common {
  opcode: typeof Op.SCSI_CMD;
  final: boolean;
  read: boolean;
  write: boolean;
  attr: number;
  lun: bigint;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** Full CDB: the 16 BHS bytes plus any extended-CDB AHS (§11.3.5.2 / §11.2.2.3). */
  cdb: Buffer;
  /** Bidirectional Read Expected Data Transfer Length AHS (§11.2.2.4), if present. */
  bidiReadLength?: number;
}
export interface TmfRequest extends Common {
  opcode: typeof Op.TMF_REQ;
  final: boolean;
  function: number;
  lun: bigint;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}
export interface LoginRequest extends Common {
  opcode: typeof Op.LOGIN_REQ;
  transit: boolean;
  cont: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  isid: string;
  tsih: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}
export interface TextRequest extends Common { opcode: typeof Op.TEXT_REQ; final: boolean; cont: boolean; lun: bigint; ttt: number; cmdSN: number; expStatSN: number }
export interface DataOut extends Common { opcode: typeof Op.DATA_OUT; final: boolean; lun: bigint; ttt: number; expStatSN: number; dataSN: number; bufferOffset: number }
export interface LogoutRequest extends Common { opcode: typeof Op.LOGOUT_REQ; final: boolean; reason: number; cid: number; cmdSN: number; expStatSN: number }
export interface Snack extends Common { opcode: typeof Op.SNACK; final: boolean; type: number; lun: bigint; ttt: number; expStatSN: number; begRun: number; runLength: number }

export interface NopIn extends Common { opcode: typeof Op.NOP_IN; final: boolean; lun: bigint; ttt: number; statSN: number; expCmdSN: number; maxCmdSN: number }
export interface ScsiResponsePdu extends Common {
  opcode: typeof Op.SCSI_RESP;
  final: boolean;
  bidiOverflow: boolean;
  bidiUnderflow: boolean;
  overflow: boolean;
  underflow: boolean;
  response: number;
  status: number;
  snackTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN: number;
  bidiResidualCount: number;
  residualCount: number;
}
export interface TmfResponsePdu extends Common { opcode: typeof Op.TMF_RESP; final: boolean; response: number; statSN: number; expCmdSN: number; maxCmdSN: number }
export interface LoginResponse extends Common {
  opcode: typeof Op.LOGIN_RESP;
  transit: boolean;
  cont: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: string;
  tsih: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  statusClass: number;
  statusDetail: number;
}
export interface TextResponse extends Common { opcode: typeof Op.TEXT_RESP; final: boolean; cont: boolean; lun: bigint; ttt: number; statSN: number; expCmdSN: number; maxCmdSN: number }
export interface DataIn extends Common {
  opcode: typeof Op.DATA_IN;
  final: boolean;
  ack: boolean;
  overflow: boolean;
  underflow: boolean;
  hasStatus: boolean;
  status: number;
  lun: bigint;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  residualCount: number;
}
export interface LogoutResponsePdu extends Common {
  opcode: typeof Op.LOGOUT_RESP;
  final: boolean;
  response: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait: number;
  time2Retain: number;
}
export interface R2t extends Common {
  opcode: typeof Op.R2T;
  final: boolean;
  lun: bigint;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}
export interface AsyncMessage extends Common {
  opcode: typeof Op.ASYNC;
  final: boolean;
  lun: bigint;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  asyncEvent: number;
  asyncVCode: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
}
export interface RejectPdu extends Common { opcode: typeof Op.REJECT; final: boolean; reason: number; statSN: number; expCmdSN: number; maxCmdSN: number; dataSN: number }

export type InitiatorPdu = NopOut | ScsiCommandPdu | TmfRequest | LoginRequest | TextRequest | DataOut | LogoutRequest | Snack;
export type TargetPdu =
  | NopIn
  | ScsiResponsePdu
  | TmfResponsePdu
  | LoginResponse
  | TextResponse
  | DataIn
  | LogoutResponsePdu
  | R2t
  | AsyncMessage
  | RejectPdu;
export type Pdu = InitiatorPdu | TargetPdu;

/** Fields a caller may leave out when building a PDU to encode. */
export type Draft<P extends Pdu> = P extends Pdu ? Omit<P, 'ahs' | 'data' | 'immediate' | 'itt'> & Partial<Pick<P, 'ahs' | 'data' | 'immediate' | 'itt'>> : never;

/**
 * Why bytes could not become a PDU. `fatal` violations close the connection
 * (framing, header digest, oversized segment); others are answered with a
 * Reject PDU carrying `rejectReason` and the offending BHS.
 */
export interface PduViolation {
  violation: string;
  fatal: boolean;
  rejectReason?: number;
  /** The offending header, for the Reject PDU's data segment. */
  bhs?: Buffer;
}

export function isViolation(x: unknown): x is PduViolation {
  return typeof x === 'object' && x !== null && 'violation' in x;
}
