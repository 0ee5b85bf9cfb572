/**
 * Retry policy of one chunk piece: given how an attempt ended, whether to
 * finish, retry (after how long, refreshing which metadata) or fail (with
 * which BlockError kind). Pure: time and randomness are inputs (style.md),
 * so the policy is tested with virtual time.
 *
 * Transient outcomes — a leader change (NOT_LEADER), a member that does not
 * host the copyset yet (NO_COPYSET), OVERLOAD, and the RPC failures TIMEOUT,
 * DISCONNECTED, UNREACHABLE, PROTOCOL — are retried with exponential backoff
 * until `deadlineMs` after the piece started, so a failover shorter than
 * the deadline is invisible to the initiator. The deadline (bsopts
 * `timeout=`) should stay below the initiator's command timeout (Linux
 * SCSI: 30 s) only if failing fast is wanted; the default is 60 s, as a
 * Curve volume keeps retrying rather than erroring a guest's disk.
 */
import type { BlockErrorKind } from '../../../src/block/device.js';
import type { RpcErrorKind } from '../proto/rpc-client.js';
import { STATUS, type StatusCode } from '../proto/status.js';

export interface RetryPolicy {
  /** First backoff (ms); doubles per attempt. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Give up this long after the piece started (ms). */
  readonly deadlineMs: number;
  /** Redirects to a hinted leader that are retried at once, before backing off. */
  readonly immediateRedirects: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 10, maxDelayMs: 1000, deadlineMs: 60_000, immediateRedirects: 3 };

/** How one attempt ended. */
export type AttemptOutcome =
  | { readonly kind: 'status'; readonly status: StatusCode; readonly leaderHint?: string }
  | { readonly kind: 'rpc'; readonly error: RpcErrorKind; readonly status?: StatusCode }
  /** No member address is known (empty copyset) or the MDS did not answer. */
  | { readonly kind: 'unavailable' }
  /** A final MDS answer that is not retryable (volume gone, no space, ...). */
  | { readonly kind: 'fatal'; readonly error: BlockErrorKind };

/** Which metadata to refresh before the next attempt. */
export type Refresh =
  /** Switch to the hinted leader. */
  | 'leaderHint'
  /** The target timed out or is unreachable: avoid it, try the next member (refetch from the MDS once all were tried). */
  | 'nextMember'
  /** The target is alive but cannot serve the copyset (NO_COPYSET): try the next member. */
  | 'otherMember'
  /** Refetch the copyset's members and leader from the MDS. */
  | 'copyset'
  | 'none';

export type RetryDecision =
  | { readonly action: 'done' }
  | { readonly action: 'retry'; readonly delayMs: number; readonly refresh: Refresh }
  | { readonly action: 'fail'; readonly error: BlockErrorKind };

type Rule = { retry: Refresh } | { done: true } | { fail: BlockErrorKind };

/** Chunk statuses → rule (CHUNK_NOT_EXIST is "done": a read of it returns zeroes). */
const STATUS_RULES: Readonly<Record<number, Rule>> = {
  [STATUS.OK]: { done: true },
  [STATUS.CHUNK_NOT_EXIST]: { done: true },
  [STATUS.NOT_LEADER]: { retry: 'leaderHint' },
  [STATUS.NO_COPYSET]: { retry: 'otherMember' },
  [STATUS.OVERLOAD]: { retry: 'none' },
  [STATUS.IO_ERROR]: { fail: 'EIO' },
  [STATUS.INVALID]: { fail: 'EIO' },
  [STATUS.NOT_FOUND]: { fail: 'EIO' },
  [STATUS.NO_SPACE]: { fail: 'ENOSPC' },
  [STATUS.UNSUPPORTED]: { fail: 'EIO' },
  [STATUS.INTERNAL]: { fail: 'EIO' },
};

const RPC_RULES: Readonly<Record<RpcErrorKind, Rule>> = {
  TIMEOUT: { retry: 'nextMember' },
  DISCONNECTED: { retry: 'nextMember' },
  UNREACHABLE: { retry: 'nextMember' },
  PROTOCOL: { retry: 'nextMember' },
  CLOSED: { fail: 'ESHUTDOWN' },
  REMOTE: { fail: 'EIO' }, // refined by the status below
};

function ruleOf(o: AttemptOutcome): Rule {
  switch (o.kind) {
    case 'status':
      return STATUS_RULES[o.status] ?? { fail: 'EIO' };
    case 'rpc':
      return o.error === 'REMOTE' && o.status !== undefined ? (STATUS_RULES[o.status] ?? { fail: 'EIO' }) : RPC_RULES[o.error];
    case 'unavailable':
      return { retry: 'copyset' };
    case 'fatal':
      return { fail: o.error };
  }
}

/**
 * Decide after attempt number `attempt` (0-based) that ended `elapsedMs`
 * after the piece started. `random` is in [0, 1) (jitter: the delay is
 * 50–100 % of the exponential step, so many pieces do not retry in step).
 */
export function decideRetry(o: AttemptOutcome, attempt: number, elapsedMs: number, policy: RetryPolicy, random: number): RetryDecision {
  const rule = ruleOf(o);
  if ('done' in rule) return { action: 'done' };
  if ('fail' in rule) return { action: 'fail', error: rule.fail };
  const left = policy.deadlineMs - elapsedMs;
  if (left <= 0) return { action: 'fail', error: 'ETIMEDOUT' };
  const hinted = o.kind === 'status' && rule.retry === 'leaderHint' && (o.leaderHint ?? '') !== '';
  if (hinted && attempt < policy.immediateRedirects) return { action: 'retry', delayMs: 0, refresh: rule.retry };
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  const delayMs = Math.min(left, Math.round(step * (0.5 + random / 2)));
  return { action: 'retry', delayMs, refresh: rule.retry };
}
