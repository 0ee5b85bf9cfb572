/**
 * The contract between a target's event loop (src/worker) and the wire
 * protocols that run on it (targets/iscsi, targets/nbd).
 *
 * A target loop runs in its own Worker (or on the main thread with
 * --single-loop). The management plane finishes login / option haggling,
 * then hands the connection over; from then on the protocol's
 * `ProtocolTarget` does all of that connection's I/O on the target loop.
 *
 * Everything a protocol needs from the target arrives through `TargetView`;
 * protocols never import src/mgmt or another protocol's internals.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { BlockDevice } from '../block/device.js';
import type { ReplyBudget } from './reply-budget.js';

export type ProtocolName = 'iscsi' | 'nbd';

/** Per-LUN I/O accounting; lives in shared memory the management plane reads. */
export interface IoStats {
  /** Call once per completed request. `latencyNs` from submit to completion. */
  record(op: 'read' | 'write' | 'other', bytes: number, latencyNs: number, ok: boolean): void;
  /** +1 when a request is submitted to the device, -1 when it completes. */
  inflight(delta: 1 | -1): void;
}

/** SCSI/NBD identity of a LUN, fixed when the LUN is created. */
export interface LunParams {
  vendorId: string; // INQUIRY T10 vendor, <= 8 chars
  productId: string; // <= 16 chars
  productRev: string; // <= 4 chars
  /** The LUN's 128-bit identity, 32 hex digits (src/worker/lun-identity.ts). */
  uuid: string;
  /** Unit serial number (VPD 0x80), stable across restarts. */
  serial: string;
  /** The NAA IEEE Registered Extended designator (VPD 0x83), 32 hex digits. */
  naaId: string;
  /** Explicit T10 vendor identification designator (tgt scsi_id); absent = vendor id + serial. */
  t10Id?: string;
  /** 'disk' (SBC) only for now; 'passthrough' is not supported. */
  deviceType: 'disk';
  /** Set by `bgadm --params readonly=1`; the device may also be read-only itself. */
  readOnly: boolean;
  /** Unit is removable media (INQUIRY RMB). */
  removable: boolean;
  /** Write cache enabled (MODE SENSE caching page WCE); false = write-through. */
  writeCache: boolean;
  /** Advertise logical block provisioning (LBPME, UNMAP, NBD trim) when the device can discard. */
  thinProvisioning: boolean;
}

export interface LunHandle {
  readonly lun: number;
  /** Every I/O of every protocol on this LUN goes through this device. */
  readonly device: BlockDevice;
  readonly params: LunParams;
  readonly stats: IoStats;
  /**
   * Run `fn` while no other write to this LUN is in flight and none starts
   * (COMPARE AND WRITE, VMware ATS). Writes issued through `device` by any
   * protocol wait for it; `fn` must do its own I/O through the `device`
   * argument it is given (writes through `this.device` would deadlock).
   */
  exclusive<T>(fn: (device: BlockDevice) => Promise<T>): Promise<T>;
  /** A directory for this LUN's persisted protocol state (PR with APTPL). */
  readonly stateDir: string;
}

/** Events a protocol reports so the management plane can list and manage sessions. */
export type SessionEvent =
  | {
      type: 'session-open';
      sid: number;
      protocol: ProtocolName;
      initiator: string;
      /** iSCSI only: 6-byte ISID as 12 hex digits. */
      isid?: string;
      /** iSCSI only. */
      tsih?: number;
      /** iSCSI only: MaxConnections negotiated by the leading login. */
      maxConnections?: number;
    }
  | { type: 'session-close'; sid: number }
  | { type: 'conn-open'; sid: number; cid: number; peer: string; local: string }
  | { type: 'conn-close'; sid: number; cid: number };

export interface TargetView {
  readonly tid: number;
  readonly name: string;
  readonly log: Logger;
  lun(lun: number): LunHandle | undefined;
  /** LUNs in ascending order. */
  luns(): LunHandle[];
  /** Counters the management plane reads without stopping the loop. */
  sessionDelta(delta: 1 | -1): void;
  connectionDelta(delta: 1 | -1): void;
  report(event: SessionEvent): void;
  /**
   * Timers go through the loop so that a timer callback, like socket data,
   * runs under the per-target lock. Returns a cancel function.
   */
  setTimer(ms: number, fn: () => void): () => void;
  /** Memory bound for requests in flight and unsent replies, shared by the daemon (reply-budget.ts). */
  readonly replyBudget?: ReplyBudget;
}

/** A connection the management plane has handed to the target loop. */
export interface AdoptedConnection {
  /** A net.Socket re-opened on a duplicated fd, or a bridged stream (TLS). */
  stream: Duplex;
  /** Bytes already read by the management plane past the handshake. */
  leftover: Buffer;
  /**
   * Protocol-specific state negotiated during login / option haggling.
   * Structured-cloneable (it crosses postMessage).
   */
  state: unknown;
  /** Session id allocated by the management plane (iSCSI: equals the TSIH). */
  sid: number;
  /** Connection id within the session (iSCSI CID; NBD: 0). */
  cid: number;
  peer: string;
  local: string;
  /**
   * Present when the target asked for it (ProtocolTarget.receivesInto) and
   * the stream is a plain TCP socket: reads land in buffers the connection
   * picks, and the stream emits no 'data' events (see SocketReceiver).
   */
  receiver?: SocketReceiver;
}

/**
 * A socket read straight into buffers the connection chooses (net.Socket
 * `onread`): no 64 KiB allocation and copy per read, and a write payload
 * can be read into its own buffer. The connection sets `sink` during adopt.
 */
export interface SocketReceiver {
  sink: ReceiveSink | undefined;
}

export interface ReceiveSink {
  /** Where the next read goes; called after every read (and before the first). */
  nextBuffer(): Buffer;
  /**
   * `n` bytes arrived at the start of `buf`, the buffer nextBuffer gave.
   * They are valid only during this call. False: stop reading (the
   * connection resumes the stream when it wants more).
   */
  received(n: number, buf: Buffer): boolean;
}

export interface LunChange {
  kind: 'added' | 'removed' | 'resized' | 'params';
  lun: number;
}

export interface ProtocolTarget {
  /** True: plain TCP connections come with a SocketReceiver instead of 'data' events. */
  readonly receivesInto?: boolean;
  adopt(conn: AdoptedConnection): void;
  /** Called after the LUN table changed (unit attentions, NBD resize). */
  lunChanged(change: LunChange): void;
  /** Close one session (forced delete, reinstatement, `--op delete --mode conn`). */
  closeSession(sid: number, reason: string): Promise<void>;
  closeConnection(sid: number, cid: number, reason: string): Promise<void>;
  /** Target going away: ask initiators to log out (iSCSI Async Message), then close all. */
  shutdown(reason: string): Promise<void>;
}

export interface ProtocolModule {
  readonly name: ProtocolName;
  create(target: TargetView): ProtocolTarget;
}
