/**
 * The per-target lock (design.md §2, curve-tgt's per-target mutex).
 *
 * One Int32 word in the target's SharedArrayBuffer: 0 free, 1 held by the
 * target loop, 2 held by the management plane. The loop holds it from the
 * first callback of an event-loop turn (socket data, device completion,
 * timer, control message) until that turn's check phase, i.e. while it runs,
 * and releases it while it waits for events. The management plane takes it
 * with Atomics.waitAsync (never blocking its own event loop) before it
 * changes what the lock protects — see docs/architecture.md — and releases
 * it before awaiting anything from the loop, so the two can never deadlock.
 *
 * Fairness: a busy loop releases the lock only between two turns and takes
 * it again microseconds later, long before the management plane's
 * waitAsync has woken on the main thread; left alone, an admin command on
 * a saturated target would wait for a gap in its I/O. So the management
 * plane announces itself in word 2 (the count of waiters), and a loop
 * entering a turn while it is set waits (at most MAX_YIELD_MS per turn)
 * until the management plane has had the lock.
 *
 * Word 1 is the control generation: bumped by the management plane (under
 * the lock) each time it posts a control message. On entry the loop drains
 * pending control messages synchronously when the generation moved, so a
 * change lands between two batches of I/O, never in the middle of one.
 */

const FREE = 0;
const LOOP = 1;
const MGMT = 2;

export const LOCK_WORD = 0;
export const GENERATION_WORD = 1;
export const MGMT_WAITING_WORD = 2;
export const TARGET_CONTROL_WORDS = 4;
/** How long one loop turn gives way to a waiting management plane (it then goes on regardless). */
export const MAX_YIELD_MS = 50;

export class TargetLock {
  private readonly words: Int32Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, TARGET_CONTROL_WORDS);
  }

  static create(): TargetLock {
    return new TargetLock(new SharedArrayBuffer(TARGET_CONTROL_WORDS * 4));
  }

  /**
   * Loop side: may block the loop's own thread briefly while the management
   * plane holds the lock or is about to take it.
   */
  loopAcquire(): void {
    let yielded = 0;
    for (;;) {
      const giveWay = yielded < MAX_YIELD_MS && Atomics.load(this.words, MGMT_WAITING_WORD) > 0;
      if (!giveWay && Atomics.compareExchange(this.words, LOCK_WORD, FREE, LOOP) === FREE) return;
      if (giveWay && Atomics.load(this.words, LOCK_WORD) === FREE) {
        // The management plane takes the lock without notifying: poll each ms.
        Atomics.wait(this.words, LOCK_WORD, FREE, 1);
        yielded++;
      } else {
        Atomics.wait(this.words, LOCK_WORD, MGMT, 50);
      }
    }
  }

  loopRelease(): void {
    Atomics.store(this.words, LOCK_WORD, FREE);
    Atomics.notify(this.words, LOCK_WORD);
  }

  /** Management side: resolves once held; never blocks the calling thread. */
  async mgmtAcquire(): Promise<void> {
    Atomics.add(this.words, MGMT_WAITING_WORD, 1);
    try {
      for (;;) {
        const seen = Atomics.compareExchange(this.words, LOCK_WORD, FREE, MGMT);
        if (seen === FREE) return;
        const w = Atomics.waitAsync(this.words, LOCK_WORD, seen, 100);
        if (w.async) await w.value;
      }
    } finally {
      Atomics.sub(this.words, MGMT_WAITING_WORD, 1);
    }
  }

  mgmtRelease(): void {
    Atomics.store(this.words, LOCK_WORD, FREE);
    Atomics.notify(this.words, LOCK_WORD);
  }

  /** Run `fn` (synchronous) under the lock from the management plane. */
  async withMgmt<T>(fn: () => T): Promise<T> {
    await this.mgmtAcquire();
    try {
      return fn();
    } finally {
      this.mgmtRelease();
    }
  }

  bumpGeneration(): number {
    return Atomics.add(this.words, GENERATION_WORD, 1) + 1;
  }

  generation(): number {
    return Atomics.load(this.words, GENERATION_WORD);
  }

  heldBy(): 'free' | 'loop' | 'mgmt' {
    const v = Atomics.load(this.words, LOCK_WORD);
    return v === FREE ? 'free' : v === LOOP ? 'loop' : 'mgmt';
  }
}

/**
 * The loop's view: `enter()` at the top of every callback. The first entry
 * of a turn takes the lock and schedules its release for the check phase.
 * In single-loop mode the lock would be taken by the very thread that also
 * runs the management plane, so there it is a no-op.
 */
export class LoopGate {
  private held = false;
  private seenGeneration = 0;
  private readonly releaseBound = (): void => this.release();

  constructor(
    private readonly lock: TargetLock | undefined,
    private readonly onGenerationChange: () => void,
  ) {}

  enter(): void {
    if (this.lock && !this.held) {
      this.lock.loopAcquire();
      this.held = true;
      setImmediate(this.releaseBound);
    }
    this.checkGeneration();
  }

  private checkGeneration(): void {
    if (!this.lock) return;
    const g = this.lock.generation();
    if (g !== this.seenGeneration) {
      this.seenGeneration = g;
      this.onGenerationChange();
    }
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    this.lock!.loopRelease();
  }
}
