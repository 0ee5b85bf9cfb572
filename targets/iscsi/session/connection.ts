/**
 * The socket shell of one full-feature-phase connection on the target loop:
 * framing, batched writes (cork now, uncork on nextTick), backpressure, and
 * NOP-In keep-alive pings. Protocol decisions live in Session.
 */
import type { Duplex } from 'node:stream';
import type { BlockDevice } from '../../../src/block/device.js';
import { plainSocketFd } from '../../../src/util/socket-fd.js';
import type { TargetView } from '../../../src/worker/contract.js';
import { Op, RESERVED_TAG } from '../constants.js';
import { encodePdu, PduFramer, type DigestSettings } from '../framer.js';
import type { Draft, Pdu, PduViolation, TargetPdu } from '../pdu-types.js';

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
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
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
        if (ok) this.stream.resume();
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
    this.stream.on('drain', () => this.stream.resume());
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
    if (!ok) this.stream.pause();
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
    this.stream.off('data', this.onData);
    // Let queued responses (e.g. the Logout Response) go out before the FIN.
    this.stream.end();
    const destroy = setTimeout(() => this.stream.destroy(), 2000);
    destroy.unref?.();
    this.stream.once('close', () => clearTimeout(destroy));
    this.owner.connectionClosed(this, reason);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastRx = this.ticks;
    this.framer.push(chunk);
    for (;;) {
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

