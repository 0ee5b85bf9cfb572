/**
 * One target's event loop: its LUNs, its protocols' sessions, and every byte
 * of I/O after login. Runs in the target's Worker, or on the main thread in
 * --single-loop mode; either way it talks to the management plane only
 * through `port` (control requests in, replies and session events out).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { BlockDevice } from '../block/device.js';
import type { ProtocolModule, ProtocolName, ProtocolTarget, SocketReceiver } from './contract.js';
import { Lun, LocalTarget } from './local-target.js';
import { deriveLunIdentity, lunStateDir, type LunIdentity } from './lun-identity.js';
import { LoopDevice } from './loop-device.js';
import type { BackendSpec, ControlEnvelope, ControlRequest, LoopMessage, LunDeviceInfo } from './messages.js';
import { PortStream } from './port-stream.js';
import { ReplyBudget, type ReplyLimits } from './reply-budget.js';
import { SharedIoStats, SharedTargetCounters } from './shared-stats.js';
import { LoopGate, TargetLock } from './target-lock.js';

/**
 * Bytes a connection may queue for the socket before write() reports
 * backpressure. Node's 16 KiB default made a corked batch of replies (the
 * protocols flush theirs at 128 KiB or at the end of the loop turn) look
 * like a full socket after four 4 KiB replies: reading paused, the batch
 * went out in a small writev and 'drain' restarted it — one writev per
 * four requests at queue depth 32 instead of one per batch.
 */
export const SOCKET_WRITE_HIGH_WATER_BYTES = 1024 * 1024;

/** `onread` with a buffer function: Node asks it for the buffer of the next read after every read. */
interface OnReadOpts {
  buffer: () => Uint8Array;
  callback: (bytesWritten: number, buf: Uint8Array) => boolean;
}

/** net.Socket passes Duplex options through and takes `onread` for an fd, though its typings list neither. */
function socketOptions(fd: number, onread?: OnReadOpts): net.SocketConstructorOpts & { writableHighWaterMark: number; onread?: OnReadOpts } {
  const o = { fd, readable: true, writable: true, writableHighWaterMark: SOCKET_WRITE_HIGH_WATER_BYTES };
  return onread ? { ...o, onread } : o;
}

/**
 * Events a backend may report about its own work, counted per LUN in the
 * shared stats (blockgate_backend_retries_total / _failovers_total). Called
 * on the target loop, only when the event happens: a backend that never
 * retries never calls them, and the I/O path pays nothing.
 */
export interface BackendEvents {
  retry(): void;
  failover(): void;
}

export type BackendOpener = (spec: BackendSpec, log: Logger, events?: BackendEvents) => Promise<BlockDevice>;

export interface TargetLoopOptions {
  tid: number;
  name: string;
  port: MessagePort;
  protocols: ProtocolModule[];
  openBackend: BackendOpener;
  /** Absent in single-loop mode (the management plane shares the thread). */
  lock?: TargetLock;
  targetStats: SharedArrayBuffer;
  /** The daemon-wide reply budget (one buffer for every loop); absent: this loop's own, default limits. */
  replyBudget?: { sab: SharedArrayBuffer; limits: ReplyLimits };
  log: Logger;
}

class ControlFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class TargetLoop {
  private readonly target: LocalTarget;
  private readonly gate: LoopGate;
  private readonly protocols = new Map<ProtocolName, ProtocolTarget>();
  private readonly devices = new Map<number, LoopDevice>();
  private readonly enterBound = (): void => this.gate.enter();
  private readonly port: MessagePort;
  private stopping = false;
  private readonly pending: ControlEnvelope[] = [];

  constructor(private readonly opts: TargetLoopOptions) {
    this.port = opts.port;
    this.gate = new LoopGate(opts.lock, () => this.drainControl());
    const counters = new SharedTargetCounters(opts.targetStats);
    this.target = new LocalTarget(
      opts.tid,
      opts.name,
      opts.log,
      counters,
      (event) => this.post({ type: 'event', event }),
      (fn) => () => {
        this.gate.enter();
        fn();
      },
    );
    const rb = opts.replyBudget;
    if (rb) this.target.replyBudget = new ReplyBudget(rb.sab, rb.limits, (ms, fn) => this.target.setTimer(ms, fn));
    for (const p of opts.protocols) this.protocols.set(p.name, p.create(this.target));
    this.port.on('message', (m: ControlEnvelope) => {
      this.pending.push(m);
      this.gate.enter();
      this.runPending();
    });
    this.post({ type: 'ready' });
  }

  /** A control generation bump means messages are waiting: apply them before any I/O. */
  private drainControl(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      this.pending.push(m.message as ControlEnvelope);
    }
    this.runPending();
  }

  /** Starts queued requests in arrival order (the management plane awaits each reply). */
  private runPending(): void {
    for (let m = this.pending.shift(); m; m = this.pending.shift()) void this.handle(m);
  }

  private async handle(m: ControlEnvelope): Promise<void> {
    try {
      const data = await this.apply(m);
      this.post({ type: 'reply', id: m.id, ok: true, ...(data ? { data } : {}) });
    } catch (err) {
      const code = err instanceof ControlFailure ? err.code : 'EIO';
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log.warn({ target: this.opts.name, op: m.type, err: message }, 'target control request failed');
      this.post({ type: 'reply', id: m.id, ok: false, error: { code, message } });
    }
  }

  private async apply(m: ControlRequest): Promise<LunDeviceInfo | undefined> {
    switch (m.type) {
      case 'addLun':
        return this.addLun(m);
      case 'removeLun':
        await this.removeLun(m.lun, m.drainMs);
        return undefined;
      case 'resizeLun':
        return this.resizeLun(m.lun, m.sizeBytes);
      case 'setLunIdentity': {
        const lun = this.target.lun(m.lun) as Lun | undefined;
        if (!lun) throw new ControlFailure('BG_ERR_NO_LUN', `no LUN ${m.lun}`);
        lun.params = { ...lun.params, ...m.identity };
        if (m.identity.t10Id === undefined) delete lun.params.t10Id;
        this.notify({ kind: 'params', lun: m.lun });
        return undefined;
      }
      case 'adopt':
        this.adopt(m);
        return undefined;
      case 'closeSession':
        await this.protocol(m.protocol).closeSession(m.sid, m.reason);
        return undefined;
      case 'closeConnection':
        await this.protocol(m.protocol).closeConnection(m.sid, m.cid, m.reason);
        return undefined;
      case 'shutdown':
        await this.shutdown(m.reason);
        return undefined;
    }
  }

  private async addLun(m: Extract<ControlRequest, { type: 'addLun' }>): Promise<LunDeviceInfo> {
    if (this.target.lun(m.lun)) throw new ControlFailure('BG_ERR_LUN_EXISTS', `LUN ${m.lun} exists`);
    const stats = new SharedIoStats(m.stats);
    const events: BackendEvents = { retry: () => stats.backendRetry(), failover: () => stats.backendFailover() };
    let backing: BlockDevice;
    try {
      backing = await this.opts.openBackend(m.backend, this.opts.log, events);
    } catch (err) {
      throw new ControlFailure('BG_ERR_BACKING_STORE', `cannot open ${m.backend.bstype}:${m.backend.path}: ${(err as Error).message}`);
    }
    const device = new LoopDevice(backing, this.enterBound, (e) => stats.backendError(e.kind));
    this.devices.set(m.lun, device);
    let identity: LunIdentity;
    try {
      identity = deriveLunIdentity(m.identity, backing.info.uuid);
    } catch (err) {
      this.devices.delete(m.lun);
      await device.close().catch(() => undefined);
      throw new ControlFailure('BG_ERR_BACKING_STORE', `${m.backend.bstype}:${m.backend.path}: ${(err as Error).message}`);
    }
    const params = { ...m.params, ...identity, readOnly: m.params.readOnly || backing.info.readOnly };
    const stateDir = lunStateDir(m.stateRoot, identity.uuid);
    if (m.legacyStateDir) adoptLegacyState(m.legacyStateDir, stateDir, this.opts.log);
    this.target.addLun(new Lun(m.lun, device, params, stats, stateDir));
    this.notify({ kind: 'added', lun: m.lun });
    return deviceInfo(backing);
  }

  private async removeLun(lun: number, drainMs: number): Promise<void> {
    const removed = this.target.removeLun(lun);
    if (!removed) throw new ControlFailure('BG_ERR_NO_LUN', `no LUN ${lun}`);
    this.notify({ kind: 'removed', lun });
    const device = this.devices.get(lun)!;
    this.devices.delete(lun);
    const drained = await device.drain(drainMs);
    if (!drained) this.opts.log.warn({ target: this.opts.name, lun, inflight: device.inflight }, 'LUN closed with I/O still in flight');
    await device.close();
  }

  private async resizeLun(lun: number, sizeBytes: number): Promise<LunDeviceInfo> {
    const device = this.devices.get(lun);
    if (!device) throw new ControlFailure('BG_ERR_NO_LUN', `no LUN ${lun}`);
    await device.resize(sizeBytes);
    this.notify({ kind: 'resized', lun });
    return deviceInfo(device);
  }

  private adopt(m: Extract<ControlRequest, { type: 'adopt' }>): void {
    const proto = this.protocol(m.protocol);
    const receiver: SocketReceiver | undefined = !m.port && proto.receivesInto ? { sink: undefined } : undefined;
    const stream = m.port ? new PortStream(m.port) : new net.Socket(socketOptions(m.fd!, receiver && this.readInto(receiver)));
    if (this.stopping) {
      stream.destroy();
      return;
    }
    proto.adopt({
      stream,
      leftover: Buffer.from(m.leftover.buffer, m.leftover.byteOffset, m.leftover.byteLength),
      state: m.state,
      sid: m.sid,
      cid: m.cid,
      peer: m.peer,
      local: m.local,
      receiver,
    });
    // Socket callbacks of this connection run under the target lock (readInto enters it itself).
    if (!receiver) stream.prependListener(stream.readableFlowing === false ? 'readable' : 'data', this.enterBound);
  }

  /** net.Socket `onread` for a SocketReceiver: each read enters the target lock, then goes to the connection's sink. */
  private readInto(receiver: SocketReceiver): OnReadOpts {
    // Reads start before the connection has set its sink; nothing arrives
    // before adopt() returns, but Node asks for the first buffer at once.
    const first = Buffer.allocUnsafe(64 * 1024);
    return {
      buffer: () => receiver.sink?.nextBuffer() ?? first,
      callback: (n: number, buf: Uint8Array) => {
        this.gate.enter();
        const sink = receiver.sink;
        return sink ? sink.received(n, buf as Buffer) : false;
      },
    };
  }

  private async shutdown(reason: string): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.protocols.values()].map((p) => p.shutdown(reason)));
    for (const [lun, device] of this.devices) {
      this.target.removeLun(lun);
      await device.drain(5000);
      await device.close().catch(() => undefined);
    }
    this.devices.clear();
  }

  private notify(change: { kind: 'added' | 'removed' | 'resized' | 'params'; lun: number }): void {
    for (const p of this.protocols.values()) p.lunChanged(change);
  }

  private protocol(name: ProtocolName): ProtocolTarget {
    const p = this.protocols.get(name);
    if (!p) throw new ControlFailure('BG_ERR_NO_DRIVER', `protocol ${name} not available`);
    return p;
  }

  private post(m: LoopMessage): void {
    this.port.postMessage(m);
  }
}

/**
 * Upgrade from state/<target>/lun<N>: move what it holds into the LUN's
 * identity-keyed directory, unless that already has state, and remove it.
 * Synchronous: it runs once per LUN add, before the LUN serves a command.
 */
function adoptLegacyState(legacy: string, stateDir: string, log: Logger): void {
  if (!fs.existsSync(legacy)) return;
  try {
    if (!fs.existsSync(stateDir)) {
      fs.mkdirSync(path.dirname(stateDir), { recursive: true });
      fs.renameSync(legacy, stateDir);
      log.info({ from: legacy, to: stateDir }, 'LUN state moved to its identity-keyed directory');
    } else {
      fs.rmSync(legacy, { recursive: true, force: true });
    }
  } catch (err) {
    log.warn({ from: legacy, to: stateDir, err: (err as Error).message }, 'moving LUN state failed');
  }
}

function deviceInfo(d: BlockDevice): LunDeviceInfo {
  return { ...d.info };
}
