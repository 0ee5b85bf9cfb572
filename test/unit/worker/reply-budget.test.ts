/** The reply budget's accounting (#12 item 3): shared across loops, published by granule, released on close. */
import { describe, expect, it } from 'vitest';
import { createReplyBudgetBuffer, Over, readReplyBacklogBytes, ReplyBudget, replyLimits } from '../../../src/worker/reply-budget.js';

const MiB = 1024 * 1024;
const noTimer = (): (() => void) => () => undefined;

describe('ReplyBudget', () => {
  it('two loops over one buffer share the daemon figure; a connection holding nothing may always read', () => {
    const sab = createReplyBudgetBuffer();
    const limits = { perConnectionBytes: 8 * MiB, daemonBytes: 10 * MiB };
    const a = new ReplyBudget(sab, limits, noTimer).account();
    const b = new ReplyBudget(sab, limits, noTimer).account();
    expect(a.update(6 * MiB)).toBe(Over.No);
    expect(b.update(5 * MiB)).toBe(Over.Daemon);
    expect(readReplyBacklogBytes(sab)).toBe(11 * MiB);
    expect(a.update(8 * MiB)).toBe(Over.Connection);
    const fresh = new ReplyBudget(sab, limits, noTimer).account();
    expect(fresh.update(0)).toBe(Over.No);
    a.release();
    b.update(0);
    expect(readReplyBacklogBytes(sab)).toBe(0);
  });

  it('publishes moves of a granule or more, and the fall to zero', () => {
    const sab = createReplyBudgetBuffer();
    const acc = new ReplyBudget(sab, replyLimits(undefined), noTimer).account();
    acc.update(64 * 1024);
    expect(readReplyBacklogBytes(sab)).toBe(0); // under a granule (256 KiB): not yet
    acc.update(MiB);
    expect(readReplyBacklogBytes(sab)).toBe(MiB);
    acc.update(900 * 1024);
    expect(readReplyBacklogBytes(sab)).toBe(MiB);
    acc.update(0);
    expect(readReplyBacklogBytes(sab)).toBe(0);
  });

  it('config sizes override the defaults', () => {
    expect(replyLimits({ daemon: 64 * MiB })).toEqual({ perConnectionBytes: 16 * MiB, daemonBytes: 64 * MiB });
  });
});
