/**
 * Pure planning of data transfers for one SCSI task:
 * - `planR2Ts`: the R2T sequence for solicited write data (RFC 7143 §11.8,
 *   honouring MaxBurstLength), after the unsolicited part (§4.2.5.2,
 *   InitialR2T / ImmediateData / FirstBurstLength).
 * - `planDataIn`: Data-In PDUs split at the initiator's
 *   MaxRecvDataSegmentLength, F bit at each MaxBurstLength sequence end
 *   (§11.7.1), status phase-collapse in the last PDU when allowed (§11.7.4).
 * - `residual`: U/O bits and residual count (§11.4.5).
 */

export interface Burst {
  offset: number;
  length: number;
}

/** Bytes of unsolicited data the initiator will send (immediate + Data-Out with TTT 0xffffffff). */
export function unsolicitedBytes(
  edtl: number,
  immediateBytes: number,
  finalBit: boolean,
  p: { initialR2T: boolean; firstBurstLength: number },
): number {
  // §11.3.1 F bit: set when no unsolicited Data-Out follows the command.
  if (finalBit || p.initialR2T) return immediateBytes;
  return Math.min(edtl, p.firstBurstLength);
}

/** Solicited bursts covering [from, edtl), each at most maxBurstLength. */
export function planR2Ts(from: number, edtl: number, maxBurstLength: number): Burst[] {
  const out: Burst[] = [];
  for (let at = from; at < edtl; at += maxBurstLength) out.push({ offset: at, length: Math.min(maxBurstLength, edtl - at) });
  return out;
}

export interface DataInPiece {
  offset: number;
  length: number;
  /** F bit: last PDU of a sequence (MaxBurstLength) or of the transfer. */
  final: boolean;
  /** Last PDU of the whole transfer. */
  last: boolean;
}

export function planDataIn(total: number, maxSegment: number, maxBurstLength: number): DataInPiece[] {
  const out: DataInPiece[] = [];
  let burstLeft = maxBurstLength;
  for (let at = 0; at < total; ) {
    const length = Math.min(maxSegment, total - at, burstLeft);
    at += length;
    burstLeft -= length;
    const last = at >= total;
    out.push({ offset: at - length, length, final: last || burstLeft === 0, last });
    if (burstLeft === 0) burstLeft = maxBurstLength;
  }
  return out;
}

export interface Residual {
  overflow: boolean;
  underflow: boolean;
  residualCount: number;
}

/** §11.4.5: from what the CDB asked for vs the Expected Data Transfer Length. */
export function residual(transferLength: number, edtl: number): Residual {
  if (transferLength > edtl) return { overflow: true, underflow: false, residualCount: transferLength - edtl };
  if (transferLength < edtl) return { overflow: false, underflow: true, residualCount: edtl - transferLength };
  return { overflow: false, underflow: false, residualCount: 0 };
}

/** SAM statuses that may ride in the final Data-In (§11.7.4): GOOD, CONDITION MET, INTERMEDIATE(-CONDITION MET). */
export function canCollapseStatus(status: number, sense: Buffer | undefined): boolean {
  return (status === 0x00 || status === 0x04 || status === 0x10 || status === 0x14) && !(sense && sense.length);
}
