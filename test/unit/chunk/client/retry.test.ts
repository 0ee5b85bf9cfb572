import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, decideRetry, type AttemptOutcome } from '../../../../backends/chunk/client/retry.js';
import { STATUS } from '../../../../backends/chunk/proto/status.js';

const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 10, maxDelayMs: 1000, deadlineMs: 5000, immediateRedirects: 2 };
const st = (status: (typeof STATUS)[keyof typeof STATUS], leaderHint?: string): AttemptOutcome => ({ kind: 'status', status, ...(leaderHint !== undefined ? { leaderHint } : {}) });

describe('decideRetry', () => {
  it('finishes on OK and on CHUNK_NOT_EXIST (zeroes)', () => {
    expect(decideRetry(st(STATUS.OK), 0, 0, policy, 0)).toEqual({ action: 'done' });
    expect(decideRetry(st(STATUS.CHUNK_NOT_EXIST), 3, 10, policy, 0)).toEqual({ action: 'done' });
  });

  it('follows a leader hint at once, then backs off', () => {
    expect(decideRetry(st(STATUS.NOT_LEADER, '127.0.0.1:2'), 0, 0, policy, 0)).toEqual({ action: 'retry', delayMs: 0, refresh: 'leaderHint' });
    expect(decideRetry(st(STATUS.NOT_LEADER, '127.0.0.1:2'), 2, 0, policy, 0)).toEqual({ action: 'retry', delayMs: 20, refresh: 'leaderHint' });
    // no hint: back off from the first attempt
    expect(decideRetry(st(STATUS.NOT_LEADER, ''), 0, 0, policy, 0.999)).toMatchObject({ action: 'retry', refresh: 'leaderHint' });
    expect((decideRetry(st(STATUS.NOT_LEADER, ''), 0, 0, policy, 0) as { delayMs: number }).delayMs).toBe(5);
  });

  it('moves to the next member on timeouts, lost connections, unreachable peers and NO_COPYSET', () => {
    for (const error of ['TIMEOUT', 'DISCONNECTED', 'UNREACHABLE', 'PROTOCOL'] as const) {
      expect(decideRetry({ kind: 'rpc', error }, 0, 0, policy, 0)).toMatchObject({ action: 'retry', refresh: 'nextMember' });
    }
    expect(decideRetry(st(STATUS.NO_COPYSET), 0, 0, policy, 0)).toMatchObject({ action: 'retry', refresh: 'otherMember' });
    expect(decideRetry(st(STATUS.OVERLOAD), 0, 0, policy, 0)).toMatchObject({ action: 'retry', refresh: 'none' });
    expect(decideRetry({ kind: 'unavailable' }, 0, 0, policy, 0)).toMatchObject({ action: 'retry', refresh: 'copyset' });
  });

  it('grows the delay exponentially with jitter, capped by maxDelay and the deadline', () => {
    const delays = [0, 1, 2, 3, 4, 10].map((a) => (decideRetry({ kind: 'rpc', error: 'TIMEOUT' }, a, 0, policy, 1 - Number.EPSILON) as { delayMs: number }).delayMs);
    expect(delays).toEqual([10, 20, 40, 80, 160, 1000]);
    const low = (decideRetry({ kind: 'rpc', error: 'TIMEOUT' }, 4, 0, policy, 0) as { delayMs: number }).delayMs;
    expect(low).toBe(80);
    expect((decideRetry({ kind: 'rpc', error: 'TIMEOUT' }, 20, 4990, policy, 0.5) as { delayMs: number }).delayMs).toBe(10);
  });

  it('fails with ETIMEDOUT once the deadline passed', () => {
    expect(decideRetry({ kind: 'rpc', error: 'DISCONNECTED' }, 9, 5000, policy, 0)).toEqual({ action: 'fail', error: 'ETIMEDOUT' });
    expect(decideRetry(st(STATUS.NOT_LEADER, 'x:1'), 0, 6000, policy, 0)).toEqual({ action: 'fail', error: 'ETIMEDOUT' });
  });

  it('fails hard errors at once with their kind', () => {
    expect(decideRetry(st(STATUS.IO_ERROR), 0, 0, policy, 0)).toEqual({ action: 'fail', error: 'EIO' });
    expect(decideRetry(st(STATUS.INVALID), 0, 0, policy, 0)).toEqual({ action: 'fail', error: 'EIO' });
    expect(decideRetry({ kind: 'rpc', error: 'CLOSED' }, 0, 0, policy, 0)).toEqual({ action: 'fail', error: 'ESHUTDOWN' });
    expect(decideRetry({ kind: 'rpc', error: 'REMOTE', status: STATUS.INVALID }, 0, 0, policy, 0)).toEqual({ action: 'fail', error: 'EIO' });
    expect(decideRetry({ kind: 'rpc', error: 'REMOTE', status: STATUS.OVERLOAD }, 0, 0, policy, 0)).toMatchObject({ action: 'retry' });
    expect(decideRetry({ kind: 'fatal', error: 'ENOSPC' }, 0, 0, policy, 0)).toEqual({ action: 'fail', error: 'ENOSPC' });
  });
});
