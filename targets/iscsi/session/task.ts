/**
 * One SCSI task of a session: gathers write data (immediate, unsolicited,
 * solicited by R2T) in order, and tracks what the transport owes the
 * initiator. No I/O: the connection sends what `takeR2Ts` plans.
 *
 * RFC 7143 §4.2.5 (data transfer), §11.7 (Data-Out), §11.8 (R2T).
 * DataPDUInOrder/DataSequenceInOrder are always Yes (we answer Yes), so every
 * Data-Out must continue exactly where the previous one of its sequence ended.
 */
import type { DataDirection } from '../../scsi/types.js';
import { RESERVED_TAG } from '../constants.js';
import { planR2Ts, unsolicitedBytes, type Burst } from './transfer.js';

interface OpenBurst extends Burst {
  ttt: number;
  next: number;
  /** DataSN expected in the next Data-Out of this sequence (§11.7.5: starts at 0 per R2T). */
  dataSN: number;
}

export interface TaskParams {
  initialR2T: boolean;
  firstBurstLength: number;
  maxBurstLength: number;
  maxOutstandingR2T: number;
}

export class Task {
  /** All write data present. */
  dataComplete: boolean;
  /** Its CmdSN turn came (or it was immediate). */
  delivered = false;
  executing = false;
  /** Read bytes held against the connection's reply budget while it executes (Connection.reserve). */
  reservedBytes = 0;
  aborted = false;
  /** Settles when the SCSI execution finished (for TMF waits). */
  settled?: Promise<void>;
  r2tSN = 0;
  /** Data-In and R2T PDUs sent (ExpDataSN of the SCSI Response). */
  dataSN = 0;
  private buf?: Buffer;
  private received = 0;
  private unsolicitedNext: number;
  private unsolicitedDataSN = 0;
  private readonly unsolicitedEnd: number;
  private pending: Burst[];
  private readonly open = new Map<number, OpenBurst>();

  constructor(
    readonly itt: number,
    readonly cmdSN: number,
    readonly lun: number,
    readonly lunRaw: bigint,
    readonly cdb: Buffer,
    readonly direction: DataDirection,
    /** Expected Data Transfer Length (write side for bidi). */
    readonly edtl: number,
    /** Expected data-in length (EDTL for reads, the bidi AHS for bidi). */
    readonly readLength: number,
    readonly immediate: boolean,
    readonly attr: number,
    immediateData: Buffer,
    finalBit: boolean,
    private readonly params: TaskParams,
  ) {
    const writes = direction === 'write' || direction === 'bidi';
    const wantOut = writes ? edtl : 0;
    this.unsolicitedEnd = writes ? Math.min(wantOut, unsolicitedBytes(wantOut, immediateData.length, finalBit, params)) : 0;
    this.unsolicitedNext = 0;
    if (immediateData.length) {
      if (immediateData.length === wantOut) this.buf = immediateData;
      else this.copyIn(0, immediateData);
      this.unsolicitedNext = immediateData.length;
      this.received = immediateData.length;
    }
    this.pending = writes ? planR2Ts(this.unsolicitedEnd, wantOut, params.maxBurstLength) : [];
    this.dataComplete = this.received >= wantOut;
  }

  get dataOut(): Buffer | undefined {
    return this.buf;
  }

  /** Bursts to solicit now (each gets a TTT from `allocTtt`), up to MaxOutstandingR2T open. */
  takeR2Ts(allocTtt: () => number): OpenBurst[] {
    const out: OpenBurst[] = [];
    while (this.pending.length && this.open.size < this.params.maxOutstandingR2T) {
      const b = this.pending.shift()!;
      const ob = { ...b, ttt: allocTtt(), next: b.offset, dataSN: 0 };
      this.open.set(ob.ttt, ob);
      out.push(ob);
    }
    return out;
  }

  /**
   * Accept one Data-Out. Returns undefined when accepted, or the reason it is
   * a protocol error (the caller Rejects it).
   */
  acceptData(ttt: number, offset: number, data: Buffer, final: boolean, dataSN: number): string | undefined {
    if (ttt === RESERVED_TAG) {
      if (offset !== this.unsolicitedNext || offset + data.length > this.unsolicitedEnd) return 'unsolicited data out of range';
      if (dataSN !== this.unsolicitedDataSN) return 'DataSN out of order';
      this.unsolicitedDataSN++;
      this.unsolicitedNext += data.length;
    } else {
      const b = this.open.get(ttt);
      if (!b) return 'unknown TTT';
      if (offset !== b.next || offset + data.length > b.offset + b.length) return 'solicited data out of range';
      if (dataSN !== b.dataSN) return 'DataSN out of order';
      b.dataSN++;
      b.next += data.length;
      if (final || b.next === b.offset + b.length) this.open.delete(ttt);
    }
    this.copyIn(offset, data);
    this.received += data.length;
    this.dataComplete = this.received >= this.edtl;
    return undefined;
  }

  private copyIn(offset: number, data: Buffer): void {
    if (data.length === 0) return;
    if (!this.buf) this.buf = Buffer.allocUnsafe(this.edtl);
    data.copy(this.buf, offset);
  }
}
