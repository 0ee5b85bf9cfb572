/**
 * The socket shell of one full-feature-phase connection on the target loop:
 * framing, batched writes (cork now, uncork on nextTick), backpressure, and
 * NOP-In keep-alive pings. Protocol decisions live in Session.
 *
 * Backpressure: reading pauses while the socket's queue is full, while a
 * partly sent Data-In sequence is finished, and while the connection holds
 * more than the reply budget allows (src/worker/reply-budget.ts: read
 * bytes of commands executing, plus the queue while it is full) or the
 * daemon's budget is spent; PDUs already read wait in the framer and are
 * taken up again when it clears.
 */
import type { Duplex } from 'node:stream';
import type { BlockDevice } from '../../../src/block/device.js';
import { plainSocketFd } from '../../../src/util/socket-fd.js';
import type { TargetView } from '../../../src/worker/contract.js';
import { Over, type ReplyAccount } from '../../../src/worker/reply-budget.js';
import { Op, RESERVED_TAG } from '../constants.js';
import { encodePdu, PduFramer, type DigestSettings } from '../framer.js';
import type { Draft, Pdu, PduViolation, TargetPdu } from '../pdu-types.js';

/** After we close, queued responses (a Logout Response) get this long to reach a peer that may have stopped reading. */
const CLOSE_LINGER_MS = 1000;

export interface ConnectionOwner {
  handlePdu(conn: Connection, pdu: Pdu | PduViolation): void;
  connectionClosed(conn: Connection, reason: string): void;
  /** ExpCmdSN / MaxCmdSN to stamp into every response (§4.2.2.1). */
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

export interface ConnectionOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/** One Data-In PDU whose data segment is sent from the device. */
export interface DeviceDataIn {
  header: Buffer;
  /** Device byte offset and length of its data segment (a multiple of 4: no padding). */
  offsetBytes: number;
  lengthBytes: number;
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = { pingIntervalMs: 30_000, pingTimeoutMs: 30_000 };

export class Connection {
  statSN: number;
  closed = false;
  /** The initiator's MaxRecvDataSegmentLength: our largest data segment. */
  readonly maxSendSegment: number;
  private readonly framer: PduFramer;
  private readonly digests: DigestSettings;
  private corked = false;
  /** The plain TCP socket's descriptor for sendfile, or -1 (TLS, bridged streams). */
  private readonly sockFd: number;
  /** PDUs held back while the rest of a partly sent Data-In is read (see sendFromDevice). */
  private held: Buffer[] | undefined;
  private lastRx = 0;
  private pingTtt = RESERVED_TAG;
  private pingSentAt = 0;
  private ticks = 0;
  private cancelTimer?: () => void;
  /** Read bytes of commands executing on this connection (Session reserves them). */
  private reservedBytes = 0;
  private writeBlocked = false;
  /** Over the reply budget: PDUs already framed wait until it clears. */
  private stalled = false;
  private flowPending = false;
  private retrying = false;
  private over: Over = Over.No;
  private readonly account: ReplyAccount | undefined;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly flowBound = (): void => {
    this.flowPending = false;
    this.updateFlow();
  };
  private readonly retryBound = (): void => {
    this.retrying = false;
    this.updateFlow();
  };
  /** Each cork() pairs with one uncork(): an early flush (sendFromDevice) or the pending tick, whichever runs first. */
  private readonly uncork = () => {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  };

  constructor(
    private readonly owner: ConnectionOwner,
    readonly stream: Duplex,
    readonly cid: number,
    readonly peer: string,
    private readonly target: TargetView,
    p: { statSN: number; headerDigest: boolean; dataDigest: boolean; targetMrdsl: number; initiatorMrdsl: number },
    private readonly options: ConnectionOptions = DEFAULT_CONNECTION_OPTIONS,
  ) {
    this.statSN = p.statSN;
    this.maxSendSegment = p.initiatorMrdsl;
    this.digests = { headerDigest: p.headerDigest, dataDigest: p.dataDigest };
    this.framer = new PduFramer({ ...this.digests, maxRecvDataSegmentLength: p.targetMrdsl });
    this.sockFd = plainSocketFd(stream);
    this.account = target.replyBudget?.account();
  }

  /** A command that will send `bytes` of Data-In starts executing. */
  reserve(bytes: number): void {
    this.reservedBytes += bytes;
  }

  /** Its data is about to be queued (or it failed): it no longer counts as reserved. */
  unreserve(bytes: number): void {
    this.reservedBytes -= bytes;
    if (this.stalled && !this.flowPending) {
      // After the caller has queued its responses, not in the middle of them.
      this.flowPending = true;
      process.nextTick(this.flowBound);
    }
  }

  get digestSettings(): DigestSettings {
    return this.digests;
  }

  /** Data-in may be sent straight from a device: plain TCP, no data digest (it would need the bytes). */
  get canSendFromDevice(): boolean {
    return this.sockFd >= 0 && !this.digests.dataDigest;
  }

  /**
   * Send Data-In PDUs whose data comes from `device` with sendfile
   * (BlockDevice.sendTo), written to the socket directly: only when nothing
   * is queued on it, so PDUs stay whole and ordered. False: nothing was
   * sent (not cached, a hole, the socket busy); the caller reads the data
   * instead. When the socket buffer fills part way, the rest is read the
   * ordinary way and every later PDU waits behind it.
   */
  sendFromDevice(pdus: DeviceDataIn[], device: BlockDevice): boolean {
    if (!this.canSendFromDevice || this.held || this.closed || !device.sendTo) return false;
    if (this.corked) this.uncork(); // what is queued goes first
    if (this.stream.writableLength > 0) return false;
    for (let i = 0; i < pdus.length; i++) {
      const p = pdus[i]!;
      const n = device.sendTo(this.sockFd, p.header, p.offsetBytes, p.lengthBytes);
      if (n === p.header.length + p.lengthBytes) continue;
      if (n < 0 && i === 0) return false;
      this.finishFromDevice(pdus, i, Math.max(n, 0), device);
      break;
    }
    return true;
  }

  private finishFromDevice(pdus: DeviceDataIn[], i: number, sent: number, device: BlockDevice): void {
    this.held = [];
    this.stream.pause(); // new commands wait too
    const p = pdus[i]!;
    if (sent < p.header.length) this.stream.write(p.header.subarray(sent));
    const from = p.offsetBytes + Math.max(0, sent - p.header.length);
    const last = pdus[pdus.length - 1]!;
    device.read(from, last.offsetBytes + last.lengthBytes - from).then(
      (data) => {
        if (this.closed) return;
        let at = p.offsetBytes + p.lengthBytes - from;
        this.stream.write(data.subarray(0, at));
        for (const q of pdus.slice(i + 1)) {
          this.stream.write(q.header);
          this.stream.write(data.subarray(at, at + q.lengthBytes));
          at += q.lengthBytes;
        }
        const held = this.held ?? [];
        this.held = undefined;
        let ok = true;
        for (const b of held) ok = this.stream.write(b);
        if (!ok) this.writeBlocked = true;
        this.updateFlow();
      },
      (err: unknown) => {
        // Part of the Data-In sequence is on the wire; ERL 0 cannot take it back.
        this.target.log.warn({ target: this.target.name, conn: this.peer, err: (err as Error).message }, 'iscsi read failed after part of its data was sent');
        this.close('read failed mid data-in');
        this.stream.destroy();
      },
    );
  }

  /** Send the final login response (no digests yet, §13.1), then start reading. */
  start(finalResponse: Buffer, leftover: Buffer): void {
    this.stream.write(finalResponse);
    this.stream.on('data', this.onData);
    this.stream.on('error', (err) => this.close(`socket error: ${err.message}`));
    this.stream.on('close', () => this.close('socket closed'));
    this.stream.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
    this.armTimer();
    if (leftover.length) this.receive(leftover);
    this.stream.resume();
  }

  /** Queue one PDU; writes issued in the same tick go out in one batch. */
  send(pdu: Draft<TargetPdu>): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    if (this.held) {
      for (const part of encodePdu(pdu, this.digests)) this.held.push(part);
      return;
    }
    let ok = true;
    for (const part of encodePdu(pdu, this.digests)) ok = this.stream.write(part);
    // Backpressure: stop reading (no new commands) until the socket drains.
    if (!ok) {
      this.writeBlocked = true;
      this.stream.pause();
    }
  }

  /** StatSN for a response that carries status (§4.2.2.2). */
  takeStatSN(): number {
    const sn = this.statSN;
    this.statSN = (this.statSN + 1) >>> 0;
    return sn;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer?.();
    this.account?.release();
    this.stream.off('data', this.onData);
    // Let queued responses (e.g. the Logout Response) go out before the FIN.
    this.stream.end();
    // A peer that stops reading must not keep the socket: released within a second (#12 item 1).
    const destroy = setTimeout(() => this.stream.destroy(), CLOSE_LINGER_MS);
    destroy.unref?.();
    this.stream.once('close', () => clearTimeout(destroy));
    this.owner.connectionClosed(this, reason);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastRx = this.ticks;
    this.framer.push(chunk);
    if (!this.stalled) this.takePdus();
  }

  private overBudget(): boolean {
    if (!this.account) return false;
    this.over = this.account.update(this.reservedBytes + (this.writeBlocked ? this.stream.writableLength : 0));
    return this.over !== Over.No;
  }

  /** Over the budget: stop reading and taking PDUs; a wait on the daemon's budget is polled. */
  private stall(): void {
    this.stalled = true;
    this.stream.pause();
    if (this.over === Over.Daemon && !this.retrying) {
      this.retrying = true;
      this.account!.retryLater(this.retryBound);
    }
  }

  /** Resume reading (and the PDUs a stall left in the framer) once nothing holds it back. */
  private updateFlow(): void {
    if (this.closed || this.held || this.writeBlocked) return;
    if (this.overBudget()) return this.stall();
    const was = this.stalled;
    this.stalled = false;
    this.stream.resume();
    if (was) this.takePdus();
  }

  private takePdus(): void {
    for (;;) {
      if (this.overBudget()) return this.stall();
      const pdu = this.framer.next();
      if (pdu === undefined || this.closed) return;
      if ('opcode' in pdu && pdu.opcode === Op.NOP_OUT && pdu.ttt === this.pingTtt && pdu.ttt !== RESERVED_TAG) this.pingTtt = RESERVED_TAG;
      this.owner.handlePdu(this, pdu);
    }
  }

  /** Every interval: ping if idle; close if the previous ping went unanswered. */
  private armTimer(): void {
    this.cancelTimer = this.target.setTimer(this.options.pingIntervalMs, () => {
      this.ticks++;
      if (this.closed) return;
      if (this.pingTtt !== RESERVED_TAG && (this.ticks - this.pingSentAt) * this.options.pingIntervalMs >= this.options.pingTimeoutMs) {
        this.target.log.warn({ target: this.target.name, conn: this.peer }, 'iscsi nop-in ping timed out');
        this.close('ping timeout');
        return;
      }
      if (this.pingTtt === RESERVED_TAG && this.ticks - this.lastRx >= 2) this.ping();
      this.armTimer();
    });
  }

  private ping(): void {
    this.pingTtt = (0x40000000 + this.ticks) >>> 0;
    this.pingSentAt = this.ticks;
    // §11.19: a target ping carries TTT != 0xffffffff, ITT 0xffffffff; StatSN not advanced.
    this.send({
      opcode: Op.NOP_IN, final: true, lun: 0n, itt: RESERVED_TAG, ttt: this.pingTtt,
      statSN: this.statSN, expCmdSN: this.owner.expCmdSN, maxCmdSN: this.owner.maxCmdSN,
    });
  }
}

