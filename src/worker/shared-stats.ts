/**
 * Counters a target loop writes and the management plane reads without
 * stopping it: one SharedArrayBuffer per target and one per LUN.
 *
 * Each counter has exactly one writer (the target's loop thread), so plain
 * Float64 stores suffice: no update is lost, and an aligned 8-byte store is
 * never torn on the platforms Node supports; a reader may see a value one
 * update old. Doubles count exactly up to 2^53.
 */
import type { BlockErrorKind } from '../block/device.js';
import type { IoStats } from './contract.js';

export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
] as const;

export const OPS = ['read', 'write', 'other'] as const;
export type Op = (typeof OPS)[number];

export const ERROR_KINDS: readonly BlockErrorKind[] = [
  'EIO', 'ENOSPC', 'EROFS', 'EPERM', 'EINVAL', 'ENOTSUP', 'ESHUTDOWN', 'EOVERFLOW', 'ETIMEDOUT',
];

const OP_INDEX: Record<Op, number> = { read: 0, write: 1, other: 2 };
const B = LATENCY_BUCKETS_SECONDS.length + 1; // + the +Inf bucket
const HIST_STRIDE = B + 2; // buckets, sum, count

const OPS_AT = 0;
const BYTES_AT = 3;
const ERRORS_AT = 6; // failed requests per op
const INFLIGHT_AT = 9;
const BACKEND_ERRORS_AT = 10;
const HIST_AT = BACKEND_ERRORS_AT + ERROR_KINDS.length;
/** Backend-internal events (replicated backends only): retried attempts, moves to another replica. */
const BACKEND_RETRIES_AT = HIST_AT + 3 * HIST_STRIDE;
const BACKEND_FAILOVERS_AT = BACKEND_RETRIES_AT + 1;
const LUN_SLOTS = BACKEND_FAILOVERS_AT + 1;

export function createLunStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(LUN_SLOTS * 8);
}

/** Writer side, on the target loop. */
export class SharedIoStats implements IoStats {
  private readonly v: Float64Array;
  constructor(sab: SharedArrayBuffer) {
    this.v = new Float64Array(sab);
  }

  record(op: Op, bytes: number, latencyNs: number, ok: boolean): void {
    const o = OP_INDEX[op];
    const v = this.v;
    v[OPS_AT + o]!++;
    v[BYTES_AT + o]! += bytes;
    if (!ok) v[ERRORS_AT + o]!++;
    const seconds = latencyNs / 1e9;
    const h = HIST_AT + o * HIST_STRIDE;
    let b = 0;
    while (b < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[b]!) b++;
    v[h + b]!++;
    v[h + B]! += seconds;
    v[h + B + 1]!++;
  }

  inflight(delta: 1 | -1): void {
    this.v[INFLIGHT_AT]! += delta;
  }

  backendError(kind: BlockErrorKind): void {
    const i = ERROR_KINDS.indexOf(kind);
    this.v[BACKEND_ERRORS_AT + (i < 0 ? 0 : i)]!++;
  }

  /** Called by the backend itself (BackendEvents), off the common path: only when it retries or fails over. */
  backendRetry(): void {
    this.v[BACKEND_RETRIES_AT]!++;
  }

  backendFailover(): void {
    this.v[BACKEND_FAILOVERS_AT]!++;
  }
}

export interface LunStatsSnapshot {
  ops: Record<Op, number>;
  bytes: Record<Op, number>;
  errors: Record<Op, number>;
  inflight: number;
  backendErrors: Partial<Record<BlockErrorKind, number>>;
  /** Attempts the backend retried (chunk: a piece sent again after NOT_LEADER, timeout, ...). */
  backendRetries: number;
  /** Times the backend moved to another replica (chunk: a copyset's target chunkserver changed). */
  backendFailovers: number;
  /** Per op: non-cumulative bucket counts (last is +Inf), sum of seconds, count. */
  latency: Record<Op, { buckets: number[]; sum: number; count: number }>;
}

/** Reader side, on the management plane. */
export function readLunStats(sab: SharedArrayBuffer): LunStatsSnapshot {
  const v = new Float64Array(sab);
  const per = (at: number): Record<Op, number> => ({ read: v[at]!, write: v[at + 1]!, other: v[at + 2]! });
  const backendErrors: Partial<Record<BlockErrorKind, number>> = {};
  ERROR_KINDS.forEach((k, i) => {
    if (v[BACKEND_ERRORS_AT + i]) backendErrors[k] = v[BACKEND_ERRORS_AT + i]!;
  });
  const hist = (o: number): { buckets: number[]; sum: number; count: number } => {
    const h = HIST_AT + o * HIST_STRIDE;
    return { buckets: Array.from(v.subarray(h, h + B)), sum: v[h + B]!, count: v[h + B + 1]! };
  };
  return {
    ops: per(OPS_AT),
    bytes: per(BYTES_AT),
    errors: per(ERRORS_AT),
    inflight: v[INFLIGHT_AT]!,
    backendErrors,
    backendRetries: v[BACKEND_RETRIES_AT]!,
    backendFailovers: v[BACKEND_FAILOVERS_AT]!,
    latency: { read: hist(0), write: hist(1), other: hist(2) },
  };
}

/** Per-target counters: sessions and connections. */
const SESSIONS_AT = 0;
const CONNECTIONS_AT = 1;

export function createTargetStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * 8);
}

export class SharedTargetCounters {
  private readonly v: Float64Array;
  constructor(sab: SharedArrayBuffer) {
    this.v = new Float64Array(sab);
  }
  sessionDelta(delta: 1 | -1): void {
    this.v[SESSIONS_AT]! += delta;
  }
  connectionDelta(delta: 1 | -1): void {
    this.v[CONNECTIONS_AT]! += delta;
  }
}

export function readTargetCounters(sab: SharedArrayBuffer): { sessions: number; connections: number } {
  const v = new Float64Array(sab);
  return { sessions: v[SESSIONS_AT]!, connections: v[CONNECTIONS_AT]! };
}
