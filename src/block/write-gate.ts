/**
 * Serialises an exclusive operation (COMPARE AND WRITE) against every other
 * write to one device, whatever protocol issued it.
 *
 * Writes pass freely while no exclusive section is pending. An exclusive
 * section waits for in-flight writes to drain; writes that arrive meanwhile
 * queue behind it. Reads are not gated: an ATS compare reads inside the
 * section, and a concurrent read seeing the old or new data is allowed.
 */
import type {
  BlockDevice,
  BlockDeviceInfo,
  Extent,
  WriteOptions,
  WriteZeroesOptions,
} from './device.js';

export class WriteGate {
  private inflightWrites = 0;
  private exclusiveActive = false;
  /** Waiters in arrival order: exclusive sections and writes blocked behind one. */
  private readonly queue: Array<{ exclusive: boolean; wake: () => void }> = [];
  private drainWaiter: (() => void) | undefined;

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.exclusiveActive || this.queue.length > 0) {
      await new Promise<void>((wake) => this.queue.push({ exclusive: true, wake }));
    }
    this.exclusiveActive = true;
    if (this.inflightWrites > 0) await new Promise<void>((r) => (this.drainWaiter = r));
    try {
      return await fn();
    } finally {
      this.exclusiveActive = false;
      this.wakeNext();
    }
  }

  /** An exclusive section runs or waits: writes must queue. */
  get busy(): boolean {
    return this.exclusiveActive || this.queue.length > 0;
  }

  /** Call before a write; resolves when the write may start. */
  enterWrite(): Promise<void> | undefined {
    if (!this.exclusiveActive && this.queue.length === 0) {
      this.inflightWrites++;
      return undefined;
    }
    return new Promise<void>((wake) =>
      this.queue.push({
        exclusive: false,
        wake: () => {
          this.inflightWrites++;
          wake();
        },
      }),
    );
  }

  leaveWrite(): void {
    this.inflightWrites--;
    if (this.inflightWrites === 0 && this.drainWaiter) {
      const w = this.drainWaiter;
      this.drainWaiter = undefined;
      w();
    }
  }

  private wakeNext(): void {
    // Release queued writes up to the next exclusive waiter; it goes next.
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.exclusive) {
        if (this.exclusiveActive) return;
        this.queue.shift();
        this.exclusiveActive = true; // reserve before it runs, so later writes queue
        head.wake();
        // the woken exclusive() sets exclusiveActive again and waits for drain
        return;
      }
      this.queue.shift();
      head.wake();
    }
  }
}

/** A device whose writes pass through a WriteGate. */
export class GatedDevice implements BlockDevice {
  /**
   * The inner device's fast paths, present only where it has them. They
   * never report errors: a throwing backend answers false / -1 here, and
   * the promise path repeats the request and reports its error. A
   * synchronous write cannot overlap an exclusive section; it only has to
   * decline while one is pending.
   */
  readonly readNow?: BlockDevice['readNow'];
  readonly writeNow?: BlockDevice['writeNow'];
  readonly sendTo?: BlockDevice['sendTo'];

  constructor(
    private readonly inner: BlockDevice,
    readonly gate: WriteGate,
  ) {
    // Bound once per device: no closure per request on these paths.
    if (inner.readNow) {
      this.readNow = (o, l, into, at) => {
        try {
          return inner.readNow!(o, l, into, at);
        } catch {
          return false;
        }
      };
    }
    if (inner.writeNow) {
      this.writeNow = (o, data) => {
        if (gate.busy) return false;
        try {
          return inner.writeNow!(o, data);
        } catch {
          return false;
        }
      };
    }
    if (inner.sendTo) {
      this.sendTo = (fd, prefix, o, l) => {
        try {
          return inner.sendTo!(fd, prefix, o, l);
        } catch {
          return -1;
        }
      };
    }
  }

  get info(): BlockDeviceInfo {
    return this.inner.info;
  }

  read(offsetBytes: number, lengthBytes: number, into?: Buffer): Promise<Buffer> {
    return this.inner.read(offsetBytes, lengthBytes, into);
  }

  write(offsetBytes: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    return this.gated(() => this.inner.write(offsetBytes, data, opts));
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    return this.gated(() => this.inner.discard(offsetBytes, lengthBytes));
  }

  writeZeroes(offsetBytes: number, lengthBytes: number, opts?: WriteZeroesOptions): Promise<void> {
    return this.gated(() => this.inner.writeZeroes(offsetBytes, lengthBytes, opts));
  }

  blockStatus(offsetBytes: number, lengthBytes: number, maxExtents?: number): Promise<Extent[]> {
    return this.inner.blockStatus(offsetBytes, lengthBytes, maxExtents);
  }

  resize(sizeBytes: number): Promise<void> {
    return this.inner.resize(sizeBytes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Writes issued inside an exclusive section bypass the gate (they are the section). */
  get ungated(): BlockDevice {
    return this.inner;
  }

  private async gated(op: () => Promise<void>): Promise<void> {
    const wait = this.gate.enterWrite();
    if (wait) await wait;
    try {
      await op();
    } finally {
      this.gate.leaveWrite();
    }
  }
}
