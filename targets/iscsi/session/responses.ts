/**
 * Building the target's answers to a SCSI task: Data-In PDUs, SCSI Response
 * (RFC 7143 §11.4, §11.7), R2T (§11.8). Pure: the caller stamps StatSN /
 * ExpCmdSN / MaxCmdSN through `Stamp`.
 */
import type { ScsiResult } from '../../scsi/types.js';
import { Op, RESERVED_TAG, ScsiResponseCode } from '../constants.js';
import type { DataIn, Draft, R2t, ScsiResponsePdu } from '../pdu-types.js';
import type { Task } from './task.js';
import { canCollapseStatus, planDataIn, residual } from './transfer.js';

export interface Stamp {
  /** Next StatSN; `consume` advances it (responses carrying status). */
  statSN(consume: boolean): number;
  expCmdSN: number;
  maxCmdSN: number;
}

export interface SendLimits {
  maxSegment: number;
  maxBurstLength: number;
}

/** Data-In PDUs (+ a SCSI Response unless status collapsed into the last Data-In). */
export function buildTaskResponses(task: Task, result: ScsiResult, stamp: Stamp, limits: SendLimits): Draft<DataIn | ScsiResponsePdu>[] {
  const dataIn = task.direction === 'read' || task.direction === 'bidi' ? result.dataIn : undefined;
  const inLen = dataIn ? Math.min(dataIn.length, task.readLength) : 0;
  return build(task, result, stamp, limits, inLen, (offset, length) => dataIn!.subarray(offset, offset + length));
}

/**
 * The same PDUs for data-in still on the device (`result.dataInFrom`):
 * the Data-In drafts carry no data, `lengths[i]` is the data length of
 * `pdus[i]` (0 for a SCSI Response).
 */
export function buildDeferredResponses(
  task: Task,
  result: ScsiResult,
  stamp: Stamp,
  limits: SendLimits,
): { pdus: Draft<DataIn | ScsiResponsePdu>[]; lengths: number[] } {
  const inLen = Math.min(result.dataInFrom?.lengthBytes ?? 0, task.readLength);
  const lengths: number[] = [];
  const pdus = build(task, result, stamp, limits, inLen, (_offset, length) => {
    lengths.push(length);
    return EMPTY;
  });
  while (lengths.length < pdus.length) lengths.push(0);
  return { pdus, lengths };
}

const EMPTY = Buffer.alloc(0);

function build(
  task: Task,
  result: ScsiResult,
  stamp: Stamp,
  limits: SendLimits,
  inLen: number,
  dataFor: (offset: number, length: number) => Buffer,
): Draft<DataIn | ScsiResponsePdu>[] {
  const out: Draft<DataIn | ScsiResponsePdu>[] = [];
  const res = task.direction === 'read' ? readResidual(result.transferLength, inLen, task.readLength) : residual(result.transferLength, task.edtl);
  const collapse = inLen > 0 && task.direction === 'read' && canCollapseStatus(result.status, result.sense);
  const pieces = planDataIn(inLen, limits.maxSegment, limits.maxBurstLength);
  for (const piece of pieces) {
    const withStatus = collapse && piece.last;
    const pdu: Draft<DataIn> = {
      opcode: Op.DATA_IN,
      final: piece.final,
      ack: false,
      overflow: withStatus && res.overflow,
      underflow: withStatus && res.underflow,
      hasStatus: withStatus,
      status: withStatus ? result.status : 0,
      lun: task.lunRaw,
      itt: task.itt,
      ttt: RESERVED_TAG,
      statSN: withStatus ? stamp.statSN(true) : 0,
      expCmdSN: stamp.expCmdSN,
      maxCmdSN: stamp.maxCmdSN,
      dataSN: task.dataSN++,
      bufferOffset: piece.offset,
      residualCount: withStatus ? res.residualCount : 0,
      data: dataFor(piece.offset, piece.length),
    };
    out.push(pdu);
  }
  if (!collapse) out.push(buildScsiResponse(task, result, res, stamp));
  return out;
}

/**
 * §11.4.5 for data-in: overflow when the CDB asked for more than EDTL,
 * otherwise underflow by what was really sent (a short MODE SENSE answer is
 * an underflow even if its allocation length equals EDTL).
 */
function readResidual(transferLength: number, sent: number, edtl: number): ReturnType<typeof residual> {
  if (transferLength > edtl) return residual(transferLength, edtl);
  return residual(Math.min(transferLength, sent), edtl);
}

function buildScsiResponse(task: Task, result: ScsiResult, res: ReturnType<typeof residual>, stamp: Stamp): Draft<ScsiResponsePdu> {
  let data = Buffer.alloc(0);
  if (result.sense?.length) {
    // §11.4.7: SenseLength (2 bytes) then the sense data.
    data = Buffer.allocUnsafe(2 + result.sense.length);
    data.writeUInt16BE(result.sense.length, 0);
    result.sense.copy(data, 2);
  }
  return {
    opcode: Op.SCSI_RESP,
    final: true,
    bidiOverflow: false,
    bidiUnderflow: false,
    overflow: res.overflow,
    underflow: res.underflow,
    response: ScsiResponseCode.COMPLETED,
    status: result.status,
    itt: task.itt,
    snackTag: 0,
    statSN: stamp.statSN(true),
    expCmdSN: stamp.expCmdSN,
    maxCmdSN: stamp.maxCmdSN,
    expDataSN: task.dataSN,
    bidiResidualCount: 0,
    residualCount: res.residualCount,
    data,
  };
}

export function buildR2t(task: Task, burst: { offset: number; length: number; ttt: number }, stamp: Stamp): Draft<R2t> {
  task.dataSN++;
  return {
    opcode: Op.R2T,
    final: true,
    lun: task.lunRaw,
    itt: task.itt,
    ttt: burst.ttt,
    statSN: stamp.statSN(false),
    expCmdSN: stamp.expCmdSN,
    maxCmdSN: stamp.maxCmdSN,
    r2tSN: task.r2tSN++,
    bufferOffset: burst.offset,
    desiredDataTransferLength: burst.length,
  };
}
