/**
 * A raw iSCSI initiator for tests, built on our own PDU codec
 * (targets/iscsi/framer.ts, pdu.ts): logs in (no authentication), then sends
 * SCSI commands and task management functions without waiting for each
 * other, answers R2Ts with Data-Out, gathers Data-In, and records every PDU
 * the target sends (with its arrival order) so tests can assert on
 * ordering: "no response for an aborted task", "TMF response after ...".
 *
 * It also exposes the socket for fuzzing: `sendRaw(bytes)`.
 */
import net from 'node:net';
import { Op, RESERVED_TAG } from '../../targets/iscsi/constants.js';
import { encodePduBuffer, PduFramer } from '../../targets/iscsi/framer.js';
import { isViolation, type Draft, type Pdu, type PduViolation, type TargetPdu } from '../../targets/iscsi/pdu-types.js';
import { decodeText, encodeText, type KeyPairs } from '../../targets/iscsi/text.js';

export interface ScsiOutcome {
  itt: number;
  /** 'rejected' when the target answered with a Reject naming this ITT. */
  kind: 'response' | 'rejected';
  status: number;
  response: number;
  sense?: Buffer;
  dataIn: Buffer;
  residual: number;
  /** Index in `received` of the PDU that finished the command. */
  seq: number;
}

export interface TmfOutcome {
  response: number;
  seq: number;
}

export interface Received {
  seq: number;
  pdu: TargetPdu;
}

interface Pending {
  resolve(v: ScsiOutcome): void;
  dataOut?: Buffer;
  chunks: Buffer[];
  lun: bigint;
}

export interface LoginOptions {
  initiatorName: string;
  targetName: string;
  isid?: string;
  /** Non-zero: add this connection to the session with this TSIH (MC/S). */
  tsih?: number;
  /** Connection id (default 1). */
  cid?: number;
  /** Extra / overriding operational keys. */
  keys?: Record<string, string>;
  /** 'Discovery': no TargetName is sent (default 'Normal'). */
  sessionType?: 'Normal' | 'Discovery';
}

const DEFAULT_KEYS: Record<string, string> = {
  HeaderDigest: 'None',
  DataDigest: 'None',
  ImmediateData: 'Yes',
  InitialR2T: 'No',
  MaxRecvDataSegmentLength: '65536',
  MaxBurstLength: '262144',
  FirstBurstLength: '65536',
  MaxOutstandingR2T: '1',
  ErrorRecoveryLevel: '0',
  MaxConnections: '1',
  DefaultTime2Wait: '0',
  DefaultTime2Retain: '0',
};

export class RawInitiator {
  readonly received: Received[] = [];
  closed = false;
  closeError: string | undefined;
  cmdSN = 1;
  expStatSN = 0;
  negotiated: Record<string, string> = {};
  /** TSIH of the session, from the last login response. */
  tsih = 0;
  private readonly framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 24 });
  private readonly pending = new Map<number, Pending>();
  private readonly tmfs = new Map<number, (v: TmfOutcome) => void>();
  private readonly waiters: Array<() => void> = [];
  private nextItt = 0x100;
  private loginDone = false;
  /** Digests in force (switched on after the final Login Response, RFC 7143 §13.1). */
  digests = { headerDigest: false, dataDigest: false };

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => (this.closeError = err.message));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawInitiator> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      const t = setTimeout(() => (s.destroy(), reject(new Error('connect timeout'))), timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.setNoDelay(true);
        resolve(new RawInitiator(s));
      });
      s.once('error', (err) => {
        clearTimeout(t);
        reject(err);
      });
    });
  }

  allocItt(): number {
    return this.nextItt++;
  }

  send(pdu: Draft<Pdu>): void {
    if (!this.socket.destroyed) this.socket.write(encodePduBuffer(pdu, this.digests));
  }

  sendRaw(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the socket has closed (or after `timeoutMs`, with false). */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < until) await this.waitEvent(until - Date.now());
    return this.closed;
  }

  /** Next received PDU after index `from`, or undefined on timeout / close. */
  async nextPdu(from: number, timeoutMs: number): Promise<Received | undefined> {
    const until = Date.now() + timeoutMs;
    while (this.received.length <= from && !this.closed && Date.now() < until) await this.waitEvent(until - Date.now());
    return this.received[from];
  }

  /**
   * Login straight into the operational stage (no authentication) and on to
   * full feature phase. Returns the login status (class << 8 | detail).
   */
  async login(opts: LoginOptions, timeoutMs = 5000): Promise<number> {
    const discovery = opts.sessionType === 'Discovery';
    const keys: KeyPairs = [
      ['InitiatorName', opts.initiatorName],
      ...(discovery ? [] : [['TargetName', opts.targetName] as [string, string]]),
      ['SessionType', discovery ? 'Discovery' : 'Normal'],
      ...Object.entries({ ...DEFAULT_KEYS, ...opts.keys }),
    ];
    const isid = opts.isid ?? '400001370000';
    let data = encodeText(keys);
    for (let round = 0; round < 4; round++) {
      const from = this.received.length;
      this.send({ opcode: Op.LOGIN_REQ, immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid, tsih: opts.tsih ?? 0, itt: 0, cid: opts.cid ?? 1, cmdSN: this.cmdSN, expStatSN: this.expStatSN, data });
      const got = await this.nextPdu(from, timeoutMs);
      if (!got) throw new Error(`login: no response (${this.closeError ?? 'timeout'})`);
      const r = got.pdu;
      if (r.opcode !== Op.LOGIN_RESP) throw new Error(`login: unexpected opcode 0x${r.opcode.toString(16)}`);
      const status = (r.statusClass << 8) | r.statusDetail;
      if (status !== 0) return status;
      for (const [k, v] of decodeText(r.data).pairs) this.negotiated[k] = v;
      this.tsih = r.tsih;
      this.expStatSN = (r.statSN + 1) >>> 0;
      this.cmdSN = r.expCmdSN;
      if (r.transit && r.nsg === 3) {
        this.loginDone = true;
        this.digests = { headerDigest: this.negotiated.HeaderDigest === 'CRC32C', dataDigest: this.negotiated.DataDigest === 'CRC32C' };
        this.framer.limits = { ...this.framer.limits, ...this.digests };
        return 0;
      }
      data = Buffer.alloc(0);
    }
    throw new Error('login: target never moved to full feature phase');
  }

  /** Send a SCSI command; resolves with its outcome (never rejects; may never resolve if the target drops it). */
  command(cdb: Buffer, opts: { lun?: number; dataOut?: Buffer; readLength?: number; immediate?: boolean; itt?: number } = {}): { itt: number; done: Promise<ScsiOutcome> } {
    const itt = opts.itt ?? this.allocItt();
    const lun = BigInt(opts.lun ?? 0) << 48n;
    const dataOut = opts.dataOut;
    const immediateBytes = dataOut ? Math.min(dataOut.length, this.firstImmediate()) : 0;
    const done = new Promise<ScsiOutcome>((resolve) => this.pending.set(itt, { resolve, chunks: [], lun, ...(dataOut ? { dataOut } : {}) }));
    const cdb16 = Buffer.alloc(16);
    cdb.copy(cdb16);
    this.send({
      opcode: Op.SCSI_CMD, immediate: opts.immediate ?? false, final: true, read: (opts.readLength ?? 0) > 0, write: dataOut !== undefined, attr: 1,
      lun, itt, expectedDataTransferLength: dataOut ? dataOut.length : (opts.readLength ?? 0), cmdSN: this.cmdSN, expStatSN: this.expStatSN, cdb: cdb16,
      ...(immediateBytes > 0 ? { data: dataOut!.subarray(0, immediateBytes) } : {}),
    });
    if (!opts.immediate) this.cmdSN = (this.cmdSN + 1) >>> 0;
    if (dataOut && immediateBytes < dataOut.length && this.negotiated.InitialR2T === 'No') this.sendUnsolicited(itt, lun, dataOut, immediateBytes);
    return { itt, done };
  }

  /** Task management function, sent as an immediate command (as Linux open-iscsi does). */
  tmf(fn: number, opts: { lun?: number; referencedTaskTag?: number; refCmdSN?: number } = {}): Promise<TmfOutcome> {
    const itt = this.allocItt();
    const done = new Promise<TmfOutcome>((resolve) => this.tmfs.set(itt, resolve));
    this.send({
      opcode: Op.TMF_REQ, immediate: true, final: true, function: fn, lun: BigInt(opts.lun ?? 0) << 48n, itt,
      referencedTaskTag: opts.referencedTaskTag ?? RESERVED_TAG, cmdSN: this.cmdSN, expStatSN: this.expStatSN, refCmdSN: opts.refCmdSN ?? 0, expDataSN: 0,
    });
    return done;
  }

  /** Received PDUs that carry status or data for `itt` (Data-In, SCSI Response, Reject naming it). */
  responsesFor(itt: number): Received[] {
    return this.received.filter(({ pdu }) =>
      ((pdu.opcode === Op.SCSI_RESP || pdu.opcode === Op.DATA_IN) && pdu.itt === itt) || (pdu.opcode === Op.REJECT && pdu.data.length >= 20 && pdu.data.readUInt32BE(16) === itt));
  }

  async logout(timeoutMs = 5000): Promise<boolean> {
    const itt = this.allocItt();
    const from = this.received.length;
    this.send({ opcode: Op.LOGOUT_REQ, immediate: true, final: true, reason: 0, itt, cid: 1, cmdSN: this.cmdSN, expStatSN: this.expStatSN });
    for (let i = from; ; i++) {
      const r = await this.nextPdu(i, timeoutMs);
      if (!r) return false;
      if (r.pdu.opcode === Op.LOGOUT_RESP) return r.pdu.response === 0;
    }
  }

  private firstImmediate(): number {
    if (this.negotiated.ImmediateData !== 'Yes') return 0;
    const mrdsl = Number(this.negotiated.MaxRecvDataSegmentLength ?? 8192);
    return Math.min(Number(this.negotiated.FirstBurstLength ?? 65536), mrdsl);
  }

  private sendUnsolicited(itt: number, lun: bigint, data: Buffer, from: number): void {
    const end = Math.min(data.length, Number(this.negotiated.FirstBurstLength ?? 65536));
    this.sendDataOut(itt, lun, RESERVED_TAG, data, from, end - from);
  }

  private sendDataOut(itt: number, lun: bigint, ttt: number, data: Buffer, offset: number, length: number): void {
    const seg = Number(this.negotiated.MaxRecvDataSegmentLength ?? 8192);
    let dataSN = 0;
    for (let at = offset; at < offset + length; at += seg) {
      const n = Math.min(seg, offset + length - at);
      this.send({ opcode: Op.DATA_OUT, final: at + n >= offset + length, lun, itt, ttt, expStatSN: this.expStatSN, dataSN: dataSN++, bufferOffset: at, data: data.subarray(at, at + n) });
    }
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (let p = this.framer.next(); p; p = this.framer.next()) this.onPdu(p);
    this.wake();
  }

  private onPdu(p: Pdu | PduViolation): void {
    if (isViolation(p)) {
      this.closeError = `initiator could not parse a target PDU: ${p.violation}`;
      this.socket.destroy();
      return;
    }
    const pdu = p as TargetPdu;
    const seq = this.received.length;
    this.received.push({ seq, pdu });
    if ('statSN' in pdu && this.loginDone && pdu.opcode !== Op.DATA_IN && pdu.opcode !== Op.R2T) this.expStatSN = (pdu.statSN + 1) >>> 0;
    if (pdu.opcode === Op.DATA_IN && pdu.hasStatus) this.expStatSN = (pdu.statSN + 1) >>> 0;
    this.dispatch(pdu, seq);
  }

  private dispatch(pdu: TargetPdu, seq: number): void {
    switch (pdu.opcode) {
      case Op.R2T: {
        const t = this.pending.get(pdu.itt);
        if (t?.dataOut) this.sendDataOut(pdu.itt, t.lun, pdu.ttt, t.dataOut, pdu.bufferOffset, pdu.desiredDataTransferLength);
        return;
      }
      case Op.DATA_IN: {
        const t = this.pending.get(pdu.itt);
        if (!t) return;
        t.chunks.push(Buffer.from(pdu.data));
        if (pdu.hasStatus) this.finish(pdu.itt, { kind: 'response', status: pdu.status, response: 0, residual: pdu.residualCount, seq });
        return;
      }
      case Op.SCSI_RESP: {
        const sense = pdu.data.length >= 2 ? Buffer.from(pdu.data.subarray(2, 2 + pdu.data.readUInt16BE(0))) : undefined;
        this.finish(pdu.itt, { kind: 'response', status: pdu.status, response: pdu.response, residual: pdu.residualCount, seq, ...(sense ? { sense } : {}) });
        return;
      }
      case Op.TMF_RESP:
        this.tmfs.get(pdu.itt)?.({ response: pdu.response, seq });
        this.tmfs.delete(pdu.itt);
        return;
      case Op.REJECT:
        if (pdu.data.length >= 20) this.finish(pdu.data.readUInt32BE(16), { kind: 'rejected', status: -1, response: -1, residual: 0, seq });
        return;
      case Op.NOP_IN:
        // A target ping (TTT != reserved) must be answered (RFC 7143 §11.18).
        if (pdu.ttt !== RESERVED_TAG) this.send({ opcode: Op.NOP_OUT, immediate: true, final: true, lun: pdu.lun, itt: RESERVED_TAG, ttt: pdu.ttt, cmdSN: this.cmdSN, expStatSN: this.expStatSN });
        return;
      default:
        return;
    }
  }

  private finish(itt: number, o: Omit<ScsiOutcome, 'itt' | 'dataIn'>): void {
    const t = this.pending.get(itt);
    if (!t) return;
    this.pending.delete(itt);
    t.resolve({ itt, dataIn: Buffer.concat(t.chunks), ...o });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private waitEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** CDB builders for the commands tests need. */
export const Cdb = {
  testUnitReady: (): Buffer => Buffer.alloc(6),
  read10(lba: number, blocks: number): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x28;
    c.writeUInt32BE(lba, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
  write10(lba: number, blocks: number): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x2a;
    c.writeUInt32BE(lba, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
};

/** Sense key and ASC/ASCQ of fixed or descriptor sense data. */
export function senseOf(sense: Buffer | undefined): { key: number; asc: number } | undefined {
  if (!sense || sense.length < 3) return undefined;
  const code = sense[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) return { key: sense[1]! & 0x0f, asc: (sense[2]! << 8) | (sense[3] ?? 0) };
  return { key: sense[2]! & 0x0f, asc: ((sense[12] ?? 0) << 8) | (sense[13] ?? 0) };
}
