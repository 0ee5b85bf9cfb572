/**
 * One iSCSI session in full feature phase on the target loop: CmdSN ordering
 * (§4.2.2.1), SCSI tasks with immediate / unsolicited / solicited data
 * (§4.2.5), NOP, Text (SendTargets), Logout (§11.14), SNACK (ERL 0: rejected).
 * Task management lives in tmf.ts. Connections are shells (connection.ts).
 */
import { performance } from 'node:perf_hooks';
import { LogLimiter } from '../../../src/obs/log-limiter.js';
import type { TargetView } from '../../../src/worker/contract.js';
import type { DataDirection, DeferredDataIn, ScsiNexus, ScsiResult, ScsiTargetServer, TaskAttribute } from '../../scsi/types.js';
import { LogoutReason, LogoutResponse, Op, RejectReason, RESERVED_TAG } from '../constants.js';
import type { IscsiHandOffState } from '../directory.js';
import { answerText, TextContinuation } from '../discovery.js';
import { CMD_WINDOW } from '../login/engine.js';
import type { NegotiatedParams } from '../login/keys.js';
import { lunToNumber } from '../lun.js';
import type { DataOut, Draft, Pdu, PduViolation, ScsiCommandPdu, TargetPdu, TextRequest, LogoutRequest, TmfRequest } from '../pdu-types.js';
import { isViolation } from '../pdu-types.js';
import { encodeHeaderDigested } from '../framer.js';
import { encodeHeader } from '../pdu.js';
import { decodeText, encodeText } from '../text.js';
import type { Connection, ConnectionOwner, DeviceDataIn } from './connection.js';
import { buildDeferredResponses, buildR2t, buildTaskResponses, type SendLimits, type Stamp } from './responses.js';
import { CmdSnWindow } from './sn.js';
import { Task } from './task.js';
import { handleTmf, type TmfHost } from './tmf.js';

/** Largest EDTL we buffer for one write (bigger commands are rejected). */
const MAX_WRITE_BYTES = 64 * 1024 * 1024;
const ATTRS: TaskAttribute[] = ['simple', 'simple', 'ordered', 'head', 'aca', 'simple', 'simple', 'simple'];

interface Ordered {
  conn: Connection;
  pdu: Pdu;
  task?: Task;
}

export interface SessionHost {
  readonly target: TargetView;
  readonly scsi: ScsiTargetServer;
  sessionClosed(session: Session): void;
  /** Every session of the target (LUN / target resets cross sessions). */
  sessions(): Iterable<Session>;
}

export class Session implements ConnectionOwner, TmfHost {
  readonly conns = new Map<number, Connection>();
  readonly tasks = new Map<number, Task>();
  readonly nexus: ScsiNexus;
  readonly window: CmdSnWindow<Ordered>;
  closed = false;
  private nextTtt = 1;
  private readonly text = new TextContinuation();
  /** Data-Out sequence errors logged: at most 10 per 10 s per session. */
  private readonly dataErrorLog = new LogLimiter(10, 10_000);

  constructor(
    readonly sid: number,
    readonly host: SessionHost,
    readonly params: NegotiatedParams,
    readonly state: IscsiHandOffState,
  ) {
    this.window = new CmdSnWindow(state.expCmdSN, CMD_WINDOW);
    this.nexus = {
      id: `${state.initiatorName},i,0x${state.isid}`,
      initiatorName: state.initiatorName,
      isid: state.isid,
      relativeTargetPort: 1,
      targetPortalGroup: state.tpgt,
    };
  }

  get expCmdSN(): number {
    return this.window.expCmdSN;
  }
  get maxCmdSN(): number {
    return this.window.maxCmdSN;
  }
  get scsi(): ScsiTargetServer {
    return this.host.scsi;
  }

  stamp(conn: Connection): Stamp {
    return { statSN: (consume) => (consume ? conn.takeStatSN() : conn.statSN), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }

  /** Stamp SNs and send a PDU carrying status. */
  respond(conn: Connection, pdu: Record<string, unknown> & { opcode: number }): void {
    conn.send({ ...pdu, statSN: conn.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN } as unknown as Draft<TargetPdu>);
  }

  reject(conn: Connection, reason: number, bhs?: Buffer): void {
    this.respond(conn, { opcode: Op.REJECT, final: true, reason, dataSN: 0, data: bhs ? Buffer.from(bhs.subarray(0, 48)) : Buffer.alloc(0) });
  }

  handlePdu(conn: Connection, pdu: Pdu | PduViolation): void {
    if (isViolation(pdu)) return this.handleViolation(conn, pdu);
    switch (pdu.opcode) {
      case Op.SCSI_CMD:
        return this.receiveCommand(conn, pdu);
      case Op.DATA_OUT:
        return this.receiveData(conn, pdu);
      case Op.NOP_OUT:
        if (pdu.itt === RESERVED_TAG) return; // a ping answer, or a ping we need not answer (§11.18)
        return this.order(conn, pdu);
      case Op.TMF_REQ:
      case Op.TEXT_REQ:
      case Op.LOGOUT_REQ:
        return this.order(conn, pdu);
      case Op.SNACK:
        // ERL 0 (§7.1.4 / §11.16): SNACK is not supported.
        return this.reject(conn, RejectReason.PROTOCOL_ERROR, rawBhs(pdu));
      default:
        return this.reject(conn, RejectReason.PROTOCOL_ERROR, rawBhs(pdu));
    }
  }

  private handleViolation(conn: Connection, v: PduViolation): void {
    if (v.rejectReason !== undefined) this.reject(conn, v.rejectReason, v.bhs);
    if (v.fatal || v.violation === 'data-digest') {
      this.host.target.log.warn({ target: this.host.target.name, sid: this.sid, conn: conn.peer, err: v.violation }, 'iscsi connection protocol violation');
      conn.close(v.violation);
    }
  }

  /** Non-immediate commands wait for their CmdSN turn; immediate ones run now. */
  private order(conn: Connection, pdu: Pdu & { cmdSN: number }, task?: Task): void {
    const item: Ordered = task ? { conn, pdu, task } : { conn, pdu };
    if (pdu.immediate) return this.deliver(item);
    const ready = this.window.offer(pdu.cmdSN, item);
    if (!ready) {
      if (task) this.tasks.delete(task.itt); // outside the window: silently dropped (§4.2.2.1)
      return;
    }
    for (const r of ready) this.deliver(r);
  }

  private deliver(item: Ordered): void {
    const { conn, pdu, task } = item;
    if (task) {
      task.delivered = true;
      return this.maybeExecute(conn, task);
    }
    switch (pdu.opcode) {
      case Op.NOP_OUT:
        return this.respond(conn, { opcode: Op.NOP_IN, final: true, lun: pdu.lun, itt: pdu.itt, ttt: RESERVED_TAG, data: pdu.data });
      case Op.TMF_REQ:
        return void handleTmf(this, conn, pdu as TmfRequest);
      case Op.TEXT_REQ:
        return this.handleText(conn, pdu as TextRequest);
      case Op.LOGOUT_REQ:
        return this.handleLogout(conn, pdu as LogoutRequest);
    }
  }

  private receiveCommand(conn: Connection, pdu: ScsiCommandPdu): void {
    const bad = this.validateCommand(pdu);
    if (bad !== undefined) return this.reject(conn, bad, rawBhs(pdu));
    const direction: DataDirection = pdu.read && pdu.write ? 'bidi' : pdu.write ? 'write' : pdu.read ? 'read' : 'none';
    const edtl = pdu.expectedDataTransferLength;
    const readLength = direction === 'bidi' ? (pdu.bidiReadLength ?? 0) : direction === 'read' ? edtl : 0;
    const p = this.params;
    const task = new Task(pdu.itt, pdu.cmdSN, lunToNumber(pdu.lun), pdu.lun, pdu.cdb, direction, edtl, readLength, pdu.immediate, pdu.attr, pdu.data, pdu.final, {
      initialR2T: p.initialR2T,
      firstBurstLength: p.firstBurstLength,
      maxBurstLength: p.maxBurstLength,
      maxOutstandingR2T: p.maxOutstandingR2T,
    });
    this.tasks.set(task.itt, task);
    this.order(conn, pdu, task);
    if (this.tasks.get(task.itt) === task) this.sendR2Ts(conn, task);
  }

  /** RFC 7143 §11.3: reasons to Reject a SCSI Command PDU outright. */
  private validateCommand(pdu: ScsiCommandPdu): number | undefined {
    const edtl = pdu.expectedDataTransferLength;
    if (this.tasks.has(pdu.itt) || pdu.itt === RESERVED_TAG) return RejectReason.TASK_IN_PROGRESS;
    if (pdu.data.length > 0 && (!pdu.write || !this.params.immediateData)) return RejectReason.PROTOCOL_ERROR;
    if (pdu.data.length > Math.min(edtl, this.params.firstBurstLength)) return RejectReason.PROTOCOL_ERROR;
    if (pdu.write && edtl > MAX_WRITE_BYTES) return RejectReason.LONG_OP_REJECT;
    if (!pdu.final && (!pdu.write || this.params.initialR2T)) return RejectReason.PROTOCOL_ERROR;
    return undefined;
  }

  private receiveData(conn: Connection, pdu: DataOut): void {
    const task = this.tasks.get(pdu.itt);
    if (!task || task.aborted) return; // data for an aborted/unknown task is dropped (§4.2.3.3)
    const err = task.acceptData(pdu.ttt, pdu.bufferOffset, pdu.data, pdu.final, pdu.dataSN);
    if (err) {
      // ERL 0 cannot recover a broken data sequence (§7.1.4): reject the PDU
      // (the initiator fails the command) and drop the task without a response.
      this.reject(conn, RejectReason.PROTOCOL_ERROR, rawBhs(pdu));
      task.aborted = true;
      this.tasks.delete(task.itt);
      this.window.remove((item) => item.task === task);
      // The initiator can repeat this at will (one bad Data-Out per command): limited.
      const ok = this.dataErrorLog.take(performance.now());
      if (ok) this.host.target.log.warn({ target: this.host.target.name, sid: this.sid, conn: conn.peer, itt: pdu.itt, err, ...(ok.suppressed ? { suppressed: ok.suppressed } : {}) }, 'iscsi data-out sequence error');
      return;
    }
    this.sendR2Ts(conn, task);
    this.maybeExecute(conn, task);
  }

  private sendR2Ts(conn: Connection, task: Task): void {
    if (task.aborted) return;
    for (const burst of task.takeR2Ts(() => this.allocTtt())) conn.send(buildR2t(task, burst, this.stamp(conn)));
  }

  private allocTtt(): number {
    const t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0x3fffffff ? 1 : this.nextTtt + 1;
    return t;
  }

  private maybeExecute(conn: Connection, task: Task): void {
    if (!task.delivered || !task.dataComplete || task.executing || task.aborted) return;
    task.executing = true;
    const cmd = {
      nexus: this.nexus,
      lun: task.lun,
      cdb: task.cdb,
      direction: task.direction,
      expectedLength: task.direction === 'read' ? task.readLength : task.edtl,
      dataOut: task.dataOut,
      taskAttr: ATTRS[task.attr & 7]!,
      taskTag: task.itt,
      canSendFromDevice: conn.canSendFromDevice,
    };
    if (task.readLength > 0) conn.reserve((task.reservedBytes = task.readLength));
    const now = this.scsi.execute(cmd);
    if (!(now instanceof Promise)) return this.complete(conn, task, now);
    task.settled = now.then(
      (result) => this.complete(conn, task, result),
      () => this.complete(conn, task, { status: 0x02, transferLength: task.edtl, sense: HARDWARE_ERROR_SENSE }),
    );
  }

  private complete(conn: Connection, task: Task, result: ScsiResult): void {
    if (this.tasks.get(task.itt) === task) this.tasks.delete(task.itt);
    if (task.reservedBytes > 0) {
      conn.unreserve(task.reservedBytes); // from here the data is counted in the socket's queue
      task.reservedBytes = 0;
    }
    if (task.aborted || conn.closed) return; // aborted: no response (§4.2.3.3)
    const limits = { maxSegment: conn.maxSendSegment, maxBurstLength: this.params.maxBurstLength };
    const deferred = result.dataInFrom;
    if (deferred) {
      if (this.sendFromDevice(conn, task, result, deferred, limits)) return;
      // Nothing went out: read the data the ordinary way and answer with that.
      this.tasks.set(task.itt, task);
      conn.reserve((task.reservedBytes = task.readLength));
      task.settled = deferred.read().then(
        (r) => this.complete(conn, task, r),
        () => this.complete(conn, task, { status: 0x02, transferLength: task.edtl, sense: HARDWARE_ERROR_SENSE }),
      );
      return;
    }
    for (const pdu of buildTaskResponses(task, result, this.stamp(conn), limits)) conn.send(pdu);
  }

  /** Data-In straight from the device (sendfile); false with nothing sent and no SN consumed. */
  private sendFromDevice(conn: Connection, task: Task, result: ScsiResult, d: DeferredDataIn, limits: SendLimits): boolean {
    if (task.direction !== 'read' || limits.maxSegment % 4 !== 0 || d.lengthBytes % 4 !== 0) return false;
    const statSN = conn.statSN;
    const dataSN = task.dataSN;
    const { pdus, lengths } = buildDeferredResponses(task, result, this.stamp(conn), limits);
    const direct: DeviceDataIn[] = [];
    for (let i = 0; i < pdus.length; i++) {
      const pdu = pdus[i]!;
      if (pdu.opcode !== Op.DATA_IN || lengths[i] === 0) break;
      direct.push({ header: encodeHeaderDigested(pdu, conn.digestSettings, lengths[i]), offsetBytes: d.offsetBytes + pdu.bufferOffset, lengthBytes: lengths[i]! });
    }
    if (direct.length === pdus.length && conn.sendFromDevice(direct, d.device)) {
      d.sent();
      return true;
    }
    conn.statSN = statSN; // as if never built
    task.dataSN = dataSN;
    return false;
  }

  private handleText(conn: Connection, pdu: TextRequest): void {
    let part = pdu.ttt !== RESERVED_TAG ? this.text.resume(pdu.ttt) : undefined;
    if (!part) {
      const own = this.state.sendTargets;
      const answer = answerText(decodeText(pdu.data).pairs, (v) => (v === '' || v === 'All' || v === this.state.targetName ? own : []));
      part = this.text.start(encodeText(answer), conn.maxSendSegment);
    }
    this.respond(conn, { opcode: Op.TEXT_RESP, final: part.final, cont: !part.final, lun: 0n, itt: pdu.itt, ttt: part.ttt, data: part.data });
  }

  private handleLogout(conn: Connection, pdu: LogoutRequest): void {
    const base = { opcode: Op.LOGOUT_RESP, final: true, itt: pdu.itt, time2Wait: 0, time2Retain: 0 };
    if (pdu.reason === LogoutReason.REMOVE_FOR_RECOVERY) return this.respond(conn, { ...base, response: LogoutResponse.RECOVERY_NOT_SUPPORTED });
    if (pdu.reason === LogoutReason.CLOSE_CONNECTION) {
      const victim = this.conns.get(pdu.cid);
      if (!victim) return this.respond(conn, { ...base, response: LogoutResponse.CID_NOT_FOUND });
      this.respond(conn, { ...base, response: LogoutResponse.SUCCESS });
      return victim.close('logout');
    }
    this.respond(conn, { ...base, response: LogoutResponse.SUCCESS });
    this.close('logout');
  }

  addConnection(conn: Connection): void {
    this.conns.set(conn.cid, conn);
  }

  connectionClosed(conn: Connection, reason: string): void {
    if (this.conns.get(conn.cid) === conn) this.conns.delete(conn.cid);
    const t = this.host.target;
    t.report({ type: 'conn-close', sid: this.sid, cid: conn.cid });
    t.connectionDelta(-1);
    t.log.info({ target: t.name, sid: this.sid, conn: conn.peer, err: reason }, 'iscsi connection closed');
    for (const task of this.tasks.values()) if (task.executing === false) task.aborted = true;
    if (this.conns.size === 0) this.close(reason);
  }

  /** Close every connection and forget the session (logout, reinstatement, shutdown). */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const task of this.tasks.values()) task.aborted = true;
    for (const c of [...this.conns.values()]) c.close(reason);
    this.scsi.removeNexus(this.nexus.id);
    this.host.target.report({ type: 'session-close', sid: this.sid });
    this.host.target.sessionDelta(-1);
    this.host.sessionClosed(this);
  }
}

/** HARDWARE ERROR / INTERNAL TARGET FAILURE (0x44/0x00), fixed format. */
const HARDWARE_ERROR_SENSE = Buffer.from([0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0]);

/** Re-encode a decoded PDU's BHS for a Reject's data segment. */
function rawBhs(pdu: Pdu): Buffer {
  return encodeHeaderSafe(pdu);
}

function encodeHeaderSafe(pdu: Pdu): Buffer {
  return encodeHeader({ ...pdu, ahs: [], data: Buffer.alloc(0) } as never).subarray(0, 48);
}
