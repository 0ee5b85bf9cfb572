/**
 * The in-process implementation of TargetView: the LUN table and counters of
 * one target as its event loop sees them. The worker (or, with --single-loop,
 * the main thread) owns one per target.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { BlockDevice } from '../block/device.js';
import { GatedDevice, WriteGate } from '../block/write-gate.js';
import type { IoStats, LunHandle, LunParams, SessionEvent, TargetView } from './contract.js';
import { DEFAULT_NAA_COMPANY_ID, deriveLunIdentity, type LunIdentity } from './lun-identity.js';
import { DEFAULT_REPLY_LIMITS, ReplyBudget } from './reply-budget.js';

export class Lun implements LunHandle {
  readonly device: GatedDevice;
  constructor(
    readonly lun: number,
    backing: BlockDevice,
    /** Replaced whole (never mutated in place) when the identity is updated. */
    public params: LunParams,
    readonly stats: IoStats,
    readonly stateDir: string,
  ) {
    this.device = new GatedDevice(backing, new WriteGate());
  }

  exclusive<T>(fn: (device: BlockDevice) => Promise<T>): Promise<T> {
    return this.device.gate.exclusive(() => fn(this.device.ungated));
  }
}

export interface TargetCounters {
  sessionDelta(delta: 1 | -1): void;
  connectionDelta(delta: 1 | -1): void;
}

export class LocalTarget implements TargetView {
  private readonly lunTable = new Map<number, Lun>();
  /** The loop's own until TargetLoop installs the daemon's shared one. */
  replyBudget: ReplyBudget = ReplyBudget.local(DEFAULT_REPLY_LIMITS, (ms, fn) => this.setTimer(ms, fn));

  constructor(
    readonly tid: number,
    readonly name: string,
    readonly log: Logger,
    private readonly counters: TargetCounters,
    private readonly onEvent: (event: SessionEvent) => void,
    private readonly timerHook: (fn: () => void) => () => void = (fn) => fn,
  ) {}

  lun(lun: number): LunHandle | undefined {
    return this.lunTable.get(lun);
  }

  luns(): LunHandle[] {
    return [...this.lunTable.values()].sort((a, b) => a.lun - b.lun);
  }

  addLun(lun: Lun): void {
    this.lunTable.set(lun.lun, lun);
  }

  removeLun(lun: number): Lun | undefined {
    const l = this.lunTable.get(lun);
    this.lunTable.delete(lun);
    return l;
  }

  sessionDelta(delta: 1 | -1): void {
    this.counters.sessionDelta(delta);
  }

  connectionDelta(delta: 1 | -1): void {
    this.counters.connectionDelta(delta);
  }

  report(event: SessionEvent): void {
    this.onEvent(event);
  }

  setTimer(ms: number, fn: () => void): () => void {
    const t = setTimeout(this.timerHook(fn), ms);
    return () => clearTimeout(t);
  }
}

/** Counters that only count; for tests and tools that have no shared memory. */
export class PlainCounters implements TargetCounters, IoStats {
  sessions = 0;
  connections = 0;
  ops = { read: 0, write: 0, other: 0 };
  bytes = { read: 0, write: 0, other: 0 };
  errors = 0;
  inflightNow = 0;
  sessionDelta(delta: 1 | -1): void {
    this.sessions += delta;
  }
  connectionDelta(delta: 1 | -1): void {
    this.connections += delta;
  }
  record(op: 'read' | 'write' | 'other', bytes: number, _latencyNs: number, ok: boolean): void {
    this.ops[op]++;
    this.bytes[op] += bytes;
    if (!ok) this.errors++;
  }
  inflight(delta: 1 | -1): void {
    this.inflightNow += delta;
  }
}

/**
 * LUN parameters with defaults. The identity comes from `identity` (the
 * registry derives it from the LUN's stored id); test rigs that pass only a
 * serial get an identity hashed from that serial.
 */
export function defaultLunParams(serial: string | LunIdentity, overrides: Partial<LunParams> = {}): LunParams {
  const identity = typeof serial === 'string' ? identityFromSerial(serial) : serial;
  return {
    vendorId: 'BLKGATE',
    productId: 'VIRTUAL-DISK',
    productRev: '0001',
    ...identity,
    deviceType: 'disk',
    readOnly: false,
    removable: false,
    writeCache: true,
    thinProvisioning: true,
    ...overrides,
  };
}

/** Test rigs: a stable identity from a serial (SHA-256), with that serial kept. */
function identityFromSerial(serial: string): LunIdentity {
  const uuid = createHash('sha256').update(serial).digest('hex').slice(0, 32);
  return { ...deriveLunIdentity({ uuid, companyId: DEFAULT_NAA_COMPANY_ID }), serial };
}
