import { describe, expect, test } from 'vitest';
import { throttleFromEnv } from '../../../src/bin/iscsi-frontend.js';
import { LogLimiter } from '../../../src/obs/log-limiter.js';
import { AuthThrottle, sourceKey } from '../../../targets/iscsi/login/throttle.js';

/** One judged failure at `now`; returns the wait the throttle imposed. */
function fail(t: AuthThrottle, who: { address: string; account?: string }, now: number): number {
  const d = t.admit(who, now);
  if (d.kind !== 'judge') return -1;
  t.failed(who, now + d.delayMs);
  return d.delayMs;
}

describe('AuthThrottle (#12 item 4)', () => {
  test('per address: free failures, then a doubling delay up to the cap', () => {
    const t = new AuthThrottle({ freeFailures: 3, baseDelayMs: 250, maxDelayMs: 1000 });
    const waits: number[] = [];
    let now = 0;
    for (let i = 0; i < 7; i++) {
      const w = fail(t, { address: '10.0.0.1' }, now);
      waits.push(w);
      now += w;
    }
    expect(waits).toEqual([0, 0, 0, 250, 500, 1000, 1000]);
    // Another address is not affected.
    expect(t.admit({ address: '10.0.0.2' }, now)).toEqual({ kind: 'judge', delayMs: 0 });
  });

  test('per account: guesses from many addresses at one account are throttled', () => {
    const t = new AuthThrottle({ freeFailures: 1, baseDelayMs: 100, maxDelayMs: 100 });
    const waits = Array.from({ length: 4 }, (_, i) => fail(t, { address: `10.0.0.${i}`, account: 'alice' }, 0));
    expect(waits).toEqual([0, 100, 200, 300]);
    expect(t.admit({ address: '10.9.9.9', account: 'bob' }, 0)).toEqual({ kind: 'judge', delayMs: 0 });
  });

  test('a success clears both records; an old record is forgotten', () => {
    const t = new AuthThrottle({ freeFailures: 0, baseDelayMs: 100, maxDelayMs: 100, forgetAfterMs: 1000 });
    const who = { address: '10.0.0.1', account: 'alice' };
    fail(t, who, 0);
    expect(t.admit(who, 0)).toEqual({ kind: 'judge', delayMs: 100 });
    t.succeeded(who);
    expect(t.admit(who, 0)).toEqual({ kind: 'judge', delayMs: 0 });
    fail(t, who, 0);
    fail(t, who, 100);
    expect(t.admit(who, 5000)).toEqual({ kind: 'judge', delayMs: 0 });
    expect(t.size).toEqual({ addresses: 0, accounts: 0 });
  });

  test('memory stays bounded while an attacker cycles addresses and accounts', () => {
    const t = new AuthThrottle({ maxEntries: 64 });
    for (let i = 0; i < 10_000; i++) fail(t, { address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, account: `user${i}` }, i);
    expect(t.size).toEqual({ addresses: 64, accounts: 64 });
  });

  test('the backlog cap refuses, unjudged, what would wait too long', () => {
    const t = new AuthThrottle({ freeFailures: 0, baseDelayMs: 4000, maxDelayMs: 4000, maxBacklogMs: 8000 });
    const who = { address: '10.0.0.1' };
    expect([fail(t, who, 0), fail(t, who, 0), fail(t, who, 0), fail(t, who, 0)]).toEqual([0, 4000, 8000, -1]);
    expect(t.admit(who, 0)).toEqual({ kind: 'refuse', delayMs: 4000 });
    expect(t.admit(who, 4000)).toEqual({ kind: 'judge', delayMs: 8000 });
  });
});

describe('sourceKey', () => {
  test('IPv4 as is (also IPv4-mapped), IPv6 by its /64', () => {
    expect(sourceKey('10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(sourceKey('2001:0db8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(sourceKey('[fe80::1%eth0]')).toBe('fe80:0:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
  });

  test('cycling addresses inside one /64 shares one record', () => {
    const t = new AuthThrottle({ freeFailures: 1, baseDelayMs: 100, maxDelayMs: 100 });
    const waits = Array.from({ length: 3 }, (_, i) => fail(t, { address: `2001:db8::${i + 1}` }, 0));
    expect(waits).toEqual([0, 100, 200]);
    expect(t.size.addresses).toBe(1);
  });
});

describe('LogLimiter', () => {
  test('lets a burst through per interval and counts the rest into the next line', () => {
    const l = new LogLimiter(3, 1000);
    const got = Array.from({ length: 10 }, (_, i) => l.take(i));
    expect(got.filter(Boolean)).toHaveLength(3);
    expect(l.take(1000)).toEqual({ suppressed: 7 });
    expect(l.take(1001)).toEqual({ suppressed: 0 });
  });
});

describe('throttle settings from the environment', () => {
  test('BLOCKGATE_ISCSI_AUTH_* override the defaults; junk is ignored', () => {
    expect(throttleFromEnv({ BLOCKGATE_ISCSI_AUTH_FREE_FAILURES: '5', BLOCKGATE_ISCSI_AUTH_DELAY_MS: '100', BLOCKGATE_ISCSI_AUTH_MAX_DELAY_MS: 'x' })).toEqual({ freeFailures: 5, baseDelayMs: 100 });
    expect(throttleFromEnv({})).toEqual({});
  });
});
