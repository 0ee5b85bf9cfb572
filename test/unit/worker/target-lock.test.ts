/**
 * The per-target lock across real threads: the management plane waits for a
 * busy loop without blocking its own event loop, and a loop entering while
 * the management plane holds the lock waits for it.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { TargetLock } from '../../../src/worker/target-lock.js';

/**
 * A worker that takes the lock with the real loop-side code (the compiled
 * TargetLock that `npm test` builds), spins `busyMs`, then releases.
 */
const DIST_LOCK = new URL('../../../dist/src/worker/target-lock.js', import.meta.url).href;
const LOOP_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.lockModule).then(({ TargetLock }) => {
  const lock = new TargetLock(workerData.sab);
  parentPort.on('message', (m) => {
    if (m.turnsForMs) {
      // A saturated target: turn after turn, the lock released only between them.
      const stop = Date.now() + m.turnsForMs;
      let turns = 0;
      while (Date.now() < stop) {
        lock.loopAcquire();
        const end = Date.now() + m.turnMs;
        while (Date.now() < end) {}
        lock.loopRelease();
        turns++;
      }
      parentPort.postMessage({ turns, at: Date.now() });
      return;
    }
    const t0 = Date.now();
    lock.loopAcquire();
    parentPort.postMessage({ held: true, waited: Date.now() - t0 });
    const end = Date.now() + m.busyMs;
    while (Date.now() < end) {}
    lock.loopRelease();
    parentPort.postMessage({ released: true, at: Date.now() });
  });
  parentPort.postMessage({ ready: true });
});
`;

async function loopWorker(lock: TargetLock): Promise<Worker> {
  const w = new Worker(LOOP_WORKER, { eval: true, workerData: { sab: lock.sab, lockModule: DIST_LOCK } });
  await next(w);
  return w;
}

function next<T>(w: Worker): Promise<T> {
  return new Promise((r) => w.once('message', r));
}

describe('TargetLock', () => {
  it('management plane waits for a running loop without blocking its own event loop', async () => {
    const lock = TargetLock.create();
    const w = await loopWorker(lock);
    try {
      w.postMessage({ busyMs: 500 });
      await next(w); // the loop holds the lock now
      expect(lock.heldBy()).toBe('loop');
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const releasedP = next<{ released: boolean; at: number }>(w);
      await lock.mgmtAcquire();
      const acquiredAt = Date.now();
      clearInterval(timer);
      const released = await releasedP;
      expect(lock.heldBy()).toBe('mgmt');
      expect(acquiredAt).toBeGreaterThanOrEqual(released.at);
      // The main event loop kept running while it waited (a blocking wait
      // would leave 0 ticks; a loaded host may run the timer only a few times).
      expect(ticks).toBeGreaterThan(0);
      lock.mgmtRelease();
      expect(lock.heldBy()).toBe('free');
    } finally {
      await w.terminate();
    }
  });

  it('a loop entering while the management plane holds the lock waits for its release', async () => {
    const lock = TargetLock.create();
    const w = await loopWorker(lock);
    try {
      await lock.mgmtAcquire();
      w.postMessage({ busyMs: 1 });
      await new Promise((r) => setTimeout(r, 200));
      expect(lock.heldBy()).toBe('mgmt'); // the loop could not take it
      lock.mgmtRelease();
      const held = await next<{ held: boolean; waited: number }>(w);
      expect(held.held).toBe(true);
      expect(held.waited).toBeGreaterThanOrEqual(150);
      await next(w);
      expect(lock.heldBy()).toBe('free');
    } finally {
      await w.terminate();
    }
  });

  it('a loop that is never idle still lets the management plane in between two turns', async () => {
    const lock = TargetLock.create();
    const w = await loopWorker(lock);
    try {
      const done = next<{ turns: number; at: number }>(w);
      w.postMessage({ turnsForMs: 3000, turnMs: 2 });
      await new Promise((r) => setTimeout(r, 100));
      await lock.mgmtAcquire();
      const acquiredAt = Date.now();
      lock.mgmtRelease();
      const finished = await done;
      // Without giving way the loop re-took the lock every time before the
      // main thread woke, and the management plane got it only at the end.
      expect(acquiredAt).toBeLessThan(finished.at - 1000);
      expect(finished.turns).toBeGreaterThan(100); // and the loop went on working
    } finally {
      await w.terminate();
    }
  });

  it('withMgmt bumps the control generation under the lock', async () => {
    const lock = TargetLock.create();
    const g0 = lock.generation();
    const seen = await lock.withMgmt(() => {
      expect(lock.heldBy()).toBe('mgmt');
      return lock.bumpGeneration();
    });
    expect(seen).toBe(g0 + 1);
    expect(lock.generation()).toBe(g0 + 1);
    expect(lock.heldBy()).toBe('free');
  });
});
