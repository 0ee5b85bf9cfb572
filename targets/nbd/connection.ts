/**
 * One NBD connection in transmission, on the target's loop: the shell that
 * reads requests, runs them concurrently (replies may complete out of
 * order, proto.md "Transmission"), writes replies in corked batches and
 * applies backpressure.
 *
 * Backpressure: reading pauses while the bytes of requests in flight (read
 * lengths + write payloads) exceed `maxInflightBytes`, while more than
 * `maxInflightRequests` are in flight, while the socket's write buffer is
 * full, or while replies are held behind a partly sent one; it resumes
 * when all are clear again. What the connection holds (bytes in flight,
 * plus the socket's queue while it is over its high-water mark) is also
 * held against the reply budget (src/worker/reply-budget.ts): over the
 * connection's share, or with the daemon's spent, reading pauses too.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BufferPool, SlabAllocator } from '../../src/block/buffer-pool.js';
import { FAST_PATH_MAX_BYTES, SEND_FROM_DEVICE_MIN_BYTES } from '../../src/block/device.js';
import { plainSocketFd } from '../../src/util/socket-fd.js';
import type { LunHandle, ReceiveSink, SocketReceiver } from '../../src/worker/contract.js';
import { Over, type ReplyAccount } from '../../src/worker/reply-budget.js';
import { NBD_CMD_DISC, NBD_CMD_FLAG_FUA, NBD_CMD_NAMES, NBD_CMD_READ, NBD_CMD_WRITE, NBD_ESHUTDOWN } from './constants.js';
import { execute, statsOf, type ExecContext } from './commands.js';
import { RequestFramer, type FramedRequest } from './framer.js';
import { buildDone, buildError, readReplyHeadroom, writeReadReplyHead, type ReplyTo } from './replies.js';
import type { NbdHandOffState } from './state.js';
import { validateRequest, type TransmissionContext, type ValidRequest } from './validate.js';

export interface ConnectionLimits {
  maxInflightBytes: number;
  maxInflightRequests: number;
  /** Compact writes longer than the maximum payload but up to this are skipped and failed. */
  discardLimitBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxInflightBytes: 64 * 1024 * 1024,
  maxInflightRequests: 1024,
  discardLimitBytes: 64 * 1024 * 1024,
};

/** Corked reply bytes that are flushed without waiting for the check phase. */
const FLUSH_AT_BYTES = 128 * 1024;
/**
 * After NBD_CMD_DISC (or a drain) our last replies and FIN get this long to
 * reach a peer that has stopped reading; then the socket is destroyed, so
 * a client that disconnects but never reads nor closes cannot keep its
 * descriptor, session and reply memory (#12 item 1: released within a second).
 */
const CLOSE_LINGER_MS = 1000;
/** Socket reads land here between requests (SocketReceiver). */
const RECEIVE_BUFFER_BYTES = 64 * 1024;
/** Write payloads at least this long are read into their own buffer, not gathered from receive buffers. */
const DIRECT_PAYLOAD_MIN_BYTES = 32 * 1024;

export class NbdConnection implements ReceiveSink {
  private readonly framer: RequestFramer;
  private readonly tctx: TransmissionContext;
  private readonly xctx: ExecContext;
  private inflightBytes = 0;
  private inflightCount = 0;
  private writeBlocked = false;
  /** What the reply budget said at the last look (see overLimit). */
  private over: Over = Over.No;
  /** A look at the daemon's budget is scheduled (see updateFlow). */
  private retrying = false;
  private paused = false;
  private corked = false;
  /** NBD_CMD_DISC received, peer ended, or shutdown: no new requests are read. */
  private draining = false;
  private shuttingDown = false;
  /** end() was called: the socket is destroyed once the FIN is out (see maybeEnd). */
  private ending = false;
  private closed = false;
  /** Why the connection ends, for the one "session closed" log line. */
  private reason: string | undefined;
  private readonly onDataBound = (b: Buffer): void => this.onData(b);
  /** Read buffers lent to replies, in write order; each returns to the pool when its last write completes. */
  private readonly pool = new BufferPool();
  /** Replies of fast-path reads: header and data in one buffer. */
  private readonly slab = new SlabAllocator();
  /** The plain TCP socket's descriptor for sendTo, or -1 (TLS, bridged streams). */
  private readonly sockFd: number;
  /** With a SocketReceiver: the receive buffer, reused for every read between requests. */
  private readonly rx: Buffer | undefined;
  /** A large write payload being read straight into its own buffer (see received). */
  private direct: { header: FramedRequest['header']; payload: Buffer; filled: number } | undefined;
  /** Replies held back while the rest of a partly sent reply is read (see sendRead). */
  private held: { bufs: Buffer[]; lease: Buffer | undefined }[] | undefined;
  private readonly leases: Buffer[] = [];
  private readonly returnLeaseBound = (): void => {
    const b = this.leases.shift();
    if (b) this.pool.give(b);
  };
  /** Each cork() is paired with one uncork(): the early flush or the pending immediate, whichever runs first. */
  private readonly uncorkBound = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  };

  constructor(
    private readonly stream: Duplex,
    private readonly lun: LunHandle,
    private readonly state: NbdHandOffState,
    private readonly log: Logger,
    private readonly limits: ConnectionLimits,
    private readonly account: ReplyAccount,
    private readonly onClosed: (reason: string) => void,
    private readonly receiver?: SocketReceiver,
  ) {
    this.rx = receiver ? Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES) : undefined;
    const s = state.blockSizes;
    this.tctx = {
      transmissionFlags: state.transmissionFlags,
      sizeBytes: state.sizeBytes,
      minBlockBytes: s.minBlockBytes,
      maxPayloadBytes: s.maxPayloadBytes,
      replyMode: state.replyMode,
      metaContextIds: state.metaContextIds,
    };
    this.xctx = { device: lun.device, minBlockBytes: s.minBlockBytes, pool: this.pool };
    this.sockFd = plainSocketFd(stream);
    this.framer = new RequestFramer({
      extended: state.replyMode === 'extended',
      maxPayloadBytes: s.maxPayloadBytes,
      discardLimitBytes: limits.discardLimitBytes,
    });
  }

  /** Send the final option reply, then start reading requests (leftover first). */
  start(leftover: Buffer): void {
    const s = this.stream;
    s.on('error', (err) => this.noteReason(`socket error: ${err.message}`));
    s.on('close', () => this.finish());
    s.on('end', () => {
      this.noteReason('peer closed');
      this.beginDrain();
    });
    s.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
    if ('setNoDelay' in s && typeof s.setNoDelay === 'function') (s as { setNoDelay(v: boolean): void }).setNoDelay(true);
    const fr = this.state.finalReply;
    this.write([Buffer.from(fr.buffer, fr.byteOffset, fr.byteLength)]);
    if (this.receiver) this.receiver.sink = this;
    else s.on('data', this.onDataBound);
    if (leftover.length) this.onData(leftover);
    s.resume();
  }

  /** ReceiveSink: between requests the receive buffer; inside a large write payload, the rest of that payload. */
  nextBuffer(): Buffer {
    const d = this.direct;
    return d ? d.payload.subarray(d.filled) : this.rx!;
  }

  /**
   * ReceiveSink: requests are framed and handled straight from the receive
   * buffer; a fast-path write consumes its payload there, any other use
   * copies it (see owned). What is left of a partial request is copied out
   * before the buffer is read into again.
   */
  received(n: number, buf: Buffer): boolean {
    if (this.closed) return false;
    const d = this.direct;
    if (d) {
      d.filled += n;
      if (d.filled < d.payload.length) return true;
      this.direct = undefined;
      this.handle({ header: d.header, payload: d.payload, payloadDiscarded: false });
      this.updateFlow();
      return !this.paused && !this.draining;
    }
    this.onData(buf.subarray(0, n));
    return !this.paused && !this.draining;
  }

  /** Answer requests already buffered with NBD_ESHUTDOWN, finish those in flight, then close. */
  shutdown(): void {
    this.noteReason('server shutting down');
    this.shuttingDown = true;
    this.pump();
    this.beginDrain();
  }

  /** Hard close at once. */
  destroy(reason: string): void {
    this.noteReason(reason);
    this.stream.destroy();
  }

  /** The first cause wins: a reset after NBD_CMD_DISC is still a disconnect. */
  private noteReason(reason: string): void {
    this.reason ??= reason;
  }

  private onData(b: Buffer): void {
    if (this.draining) return;
    this.framer.push(b);
    this.pump();
    if (!this.receiver) return;
    // Claimed first, a partial payload is copied once, into its own buffer; own() then has nothing left to copy.
    if (!this.paused && !this.draining && !this.closed) this.direct = this.framer.claimPayload(DIRECT_PAYLOAD_MIN_BYTES);
    this.framer.own();
  }

  /** A payload still in the receive buffer is copied before it outlives this read (an async write). */
  private owned(payload: Buffer | undefined): Buffer | undefined {
    return payload && this.rx && payload.buffer === this.rx.buffer ? Buffer.from(payload) : payload;
  }

  /**
   * Below the socket's high-water mark its queue is not counted: it is
   * under 1 MiB, and nothing would tell us when the kernel took it. Above
   * it, 'drain' (queue empty) brings us back here.
   */
  private overLimit(): boolean {
    const w = this.stream;
    this.over = this.account.update(this.inflightBytes + (this.writeBlocked ? w.writableLength : 0));
    return (
      this.writeBlocked ||
      this.over !== Over.No ||
      this.held !== undefined || // a partly sent reply: later replies wait, so new requests do too
      this.inflightBytes >= this.limits.maxInflightBytes ||
      this.inflightCount >= this.limits.maxInflightRequests
    );
  }

  private pump(): void {
    while (!this.closed && !this.draining && !this.overLimit()) {
      const ev = this.framer.next();
      if (!ev) break;
      if (ev.kind === 'violation') {
        this.log.warn({ err: ev.reason }, 'nbd protocol violation, disconnecting');
        this.destroy(`protocol violation: ${ev.reason}`);
        return;
      }
      this.handle(ev.req);
    }
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.closed) return;
    const stop = this.overLimit() || this.draining;
    // The memory that frees the daemon's budget is released in other threads: look again later.
    if (stop && this.over === Over.Daemon && !this.retrying && !this.draining) {
      this.retrying = true;
      this.account.retryLater(this.retryBound);
    }
    if (stop && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.pump();
      if (!this.paused && !this.overLimit()) this.stream.resume();
    }
  }

  private readonly retryBound = (): void => {
    this.retrying = false;
    this.updateFlow();
  };

  private handle(fr: FramedRequest): void {
    const h = fr.header;
    if (h.type === NBD_CMD_DISC) {
      this.noteReason('NBD_CMD_DISC');
      this.beginDrain(); // MUST finish outstanding requests, then close
      return;
    }
    const r: ReplyTo = { mode: this.state.replyMode, cookie: h.cookie, offset: h.offset };
    if (this.shuttingDown) {
      this.write(buildError(r, NBD_ESHUTDOWN, 'server is shutting down'));
      return;
    }
    const v = validateRequest(h, fr.payload, fr.payloadDiscarded, this.tctx);
    if (!v.ok) {
      this.lun.stats.record(h.type === NBD_CMD_READ ? 'read' : 'other', 0, 0, false);
      this.write(buildError(r, v.errno, v.message));
      return;
    }
    if (this.completeNow(v.req, fr.payload, r) || this.sendRead(v.req, r)) return;
    const { op, bytes } = statsOf(v.req);
    const cost = Math.max(bytes, 1);
    this.inflightBytes += cost;
    this.inflightCount++;
    this.lun.stats.inflight(1);
    const t0 = process.hrtime.bigint();
    void execute(this.xctx, v.req, this.owned(fr.payload), r).then(({ reply, ok, lease }) => {
      this.lun.stats.inflight(-1);
      this.lun.stats.record(op, bytes, Number(process.hrtime.bigint() - t0), ok);
      if (!ok) this.log.debug({ op: NBD_CMD_NAMES[h.type] }, 'nbd request failed');
      this.inflightBytes -= cost;
      this.inflightCount--;
      this.write(reply, lease);
      this.updateFlow();
      this.maybeEnd();
    });
  }

  /**
   * Small reads the page cache holds and small buffered writes finish
   * within this call (BlockDevice.readNow / writeNow): the reply is queued
   * at once, with no promise, microtask or threadpool hop. False: nothing
   * was done, take the promise path (which also reports any error).
   */
  private completeNow(req: ValidRequest, payload: Buffer | undefined, r: ReplyTo): boolean {
    const len = req.lengthBytes;
    if (len === 0 || len > FAST_PATH_MAX_BYTES) return false;
    const dev = this.lun.device;
    const t0 = process.hrtime.bigint();
    if (req.type === NBD_CMD_READ) {
      if (!dev.readNow) return false;
      const head = readReplyHeadroom(r.mode);
      const b = this.slab.take(head + len);
      if (!dev.readNow(req.offsetBytes, len, b, head)) return false;
      writeReadReplyHead(b, r, req.offsetBytes, len);
      this.lun.stats.record('read', len, Number(process.hrtime.bigint() - t0), true);
      this.write1(b);
      return true;
    }
    if (req.type !== NBD_CMD_WRITE || req.flags & NBD_CMD_FLAG_FUA || !dev.writeNow) return false;
    if (!dev.writeNow(req.offsetBytes, payload!)) return false;
    this.lun.stats.record('write', len, Number(process.hrtime.bigint() - t0), true);
    this.write(buildDone(r));
    return true;
  }

  /**
   * A large read of data in the page cache leaves through sendfile(2)
   * (BlockDevice.sendTo), written to the socket directly: only when nothing
   * else is queued on it, so replies stay whole and in order. When the
   * socket buffer fills part way, the rest is read the ordinary way while
   * later replies are held back behind it. Never with reply chunks that
   * would report holes (the device declines ranges with holes).
   */
  private sendRead(req: ValidRequest, r: ReplyTo): boolean {
    const len = req.lengthBytes;
    if (req.type !== NBD_CMD_READ || len < SEND_FROM_DEVICE_MIN_BYTES || this.sockFd < 0 || this.held || this.closed) return false;
    const dev = this.lun.device;
    if (!dev.sendTo) return false;
    if (this.corked) this.uncorkBound(); // what is queued goes first
    if (this.stream.writableLength > 0) return false;
    const t0 = process.hrtime.bigint();
    const headBytes = readReplyHeadroom(r.mode);
    const head = this.slab.take(headBytes);
    writeReadReplyHead(head, r, req.offsetBytes, len);
    const sent = dev.sendTo(this.sockFd, head, req.offsetBytes, len);
    if (sent < 0) return false;
    if (sent === headBytes + len) {
      this.lun.stats.record('read', len, Number(process.hrtime.bigint() - t0), true);
      return true;
    }
    this.finishPartialSend(head, sent, req.offsetBytes, len, t0);
    return true;
  }

  private finishPartialSend(head: Buffer, sent: number, offset: number, len: number, t0: bigint): void {
    this.held = [];
    if (sent < head.length) this.stream.write(head.subarray(sent));
    const done = Math.max(0, sent - head.length);
    this.inflightBytes += len;
    this.inflightCount++;
    void this.lun.device.read(offset + done, len - done).then(
      (data) => {
        this.lun.stats.record('read', len, Number(process.hrtime.bigint() - t0), true);
        this.inflightBytes -= len;
        this.inflightCount--;
        if (!this.closed && !this.stream.destroyed && !this.stream.write(data)) this.writeBlocked = true;
        const held = this.held ?? [];
        this.held = undefined;
        for (const h of held) this.write(h.bufs, h.lease);
        this.updateFlow();
        this.maybeEnd();
      },
      (err: unknown) => {
        // Part of the reply is on the wire: the only way to fail it is to drop the connection (proto.md, simple replies).
        this.inflightCount--;
        this.log.warn({ err: (err as Error).message }, 'nbd read failed after part of its reply was sent, disconnecting');
        this.destroy('read failed mid reply');
      },
    );
  }

  /** One reply buffer, no lease (see `write`). */
  private write1(buf: Buffer): void {
    if (this.closed || this.stream.destroyed) return;
    if (this.held) {
      this.held.push({ bufs: [buf], lease: undefined });
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      setImmediate(this.uncorkBound);
    }
    if (!this.stream.write(buf)) this.writeBlocked = true;
    if (this.stream.writableLength >= FLUSH_AT_BYTES) this.uncorkBound();
  }

  /**
   * Write reply buffers corked until the loop's check phase: every reply
   * finishing in one poll phase (the backend's completions arrive as one
   * batch of callbacks) goes out in one writev. Uncorking on nextTick
   * instead flushed after each completion, one syscall per reply. Large
   * replies flush at once: batching them saves nothing and holds the data.
   */
  private write(bufs: Buffer[], lease?: Buffer): void {
    if (this.closed || this.stream.destroyed) return;
    if (this.held) {
      this.held.push({ bufs, lease });
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      setImmediate(this.uncorkBound);
    }
    const last = bufs.length - 1;
    if (last < 0) return;
    for (let i = 0; i < last; i++) if (!this.stream.write(bufs[i]!)) this.writeBlocked = true;
    // Write callbacks run in write order, so the lease queue pops in step.
    if (lease) this.leases.push(lease);
    if (!this.stream.write(bufs[last]!, lease ? this.returnLeaseBound : undefined)) this.writeBlocked = true;
    if (this.stream.writableLength >= FLUSH_AT_BYTES) this.uncorkBound();
  }

  private beginDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.updateFlow();
    this.maybeEnd();
  }

  /**
   * Draining stopped reading, so the peer's EOF is never seen and the
   * socket would never emit 'close': once our FIN (or TLS close_notify) is
   * out, the connection is over (proto.md: after NBD_CMD_DISC the server
   * closes), so destroy it and release its descriptor.
   */
  private maybeEnd(): void {
    if (this.draining && this.inflightCount === 0 && !this.closed && !this.ending) {
      this.ending = true;
      // Let the corked batch flush first; end() closes TLS with close_notify.
      process.nextTick(this.endBound);
    }
  }

  private readonly endBound = (): void => {
    this.stream.end(this.destroyBound);
    if (this.stream.destroyed) return;
    const linger = setTimeout(this.destroyBound, CLOSE_LINGER_MS);
    linger.unref();
    this.stream.once('close', () => clearTimeout(linger));
  };

  private readonly destroyBound = (): void => {
    this.stream.destroy();
  };

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.off('data', this.onDataBound);
    if (this.receiver) this.receiver.sink = undefined;
    this.direct = undefined;
    this.held = undefined;
    this.account.release();
    this.onClosed(this.reason ?? 'peer closed');
  }
}

