/**
 * The device a target loop hands to its protocols, wrapping the backend:
 * - a completion re-enters the loop gate (the continuation runs under the
 *   per-target lock like any other callback of the loop);
 * - backend errors are counted by kind for metrics;
 * - in-flight requests are counted so a LUN can be drained before close.
 * The completion handlers are bound once per device, not per request.
 */
import { toBlockError, type BlockError, type BlockDevice, type BlockDeviceInfo, type Extent, type WriteOptions, type WriteZeroesOptions } from '../block/device.js';

export class LoopDevice implements BlockDevice {
  private inflightCount = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly onDone: <T>(v: T) => T;
  private readonly onFail: (err: unknown) => never;
  /**
   * The backend's fast paths, passed through as they are (synchronous:
   * nothing to re-enter or drain); absent when the backend has none, so a
   * protocol's `device.readNow` check tells it whether to try.
   */
  readonly readNow?: BlockDevice['readNow'];
  readonly writeNow?: BlockDevice['writeNow'];
  readonly sendTo?: BlockDevice['sendTo'];

  constructor(
    private readonly inner: BlockDevice,
    enter: () => void,
    countError: (err: BlockError) => void,
  ) {
    this.onDone = <T>(v: T): T => {
      this.settle(enter);
      return v;
    };
    if (inner.readNow) this.readNow = (o, l, into, at) => inner.readNow!(o, l, into, at);
    if (inner.writeNow) this.writeNow = (o, data) => inner.writeNow!(o, data);
    if (inner.sendTo) this.sendTo = (fd, prefix, o, l) => inner.sendTo!(fd, prefix, o, l);
    this.onFail = (err: unknown): never => {
      this.settle(enter);
      const e = toBlockError(err);
      countError(e);
      throw e;
    };
  }

  get info(): BlockDeviceInfo {
    return this.inner.info;
  }

  get inflight(): number {
    return this.inflightCount;
  }

  read(offsetBytes: number, lengthBytes: number, into?: Buffer): Promise<Buffer> {
    this.inflightCount++;
    return this.inner.read(offsetBytes, lengthBytes, into).then(this.onDone, this.onFail);
  }
  write(offsetBytes: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    this.inflightCount++;
    return this.inner.write(offsetBytes, data, opts).then(this.onDone, this.onFail);
  }
  flush(): Promise<void> {
    this.inflightCount++;
    return this.inner.flush().then(this.onDone, this.onFail);
  }
  discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.inflightCount++;
    return this.inner.discard(offsetBytes, lengthBytes).then(this.onDone, this.onFail);
  }
  writeZeroes(offsetBytes: number, lengthBytes: number, opts?: WriteZeroesOptions): Promise<void> {
    this.inflightCount++;
    return this.inner.writeZeroes(offsetBytes, lengthBytes, opts).then(this.onDone, this.onFail);
  }
  blockStatus(offsetBytes: number, lengthBytes: number, maxExtents?: number): Promise<Extent[]> {
    this.inflightCount++;
    return this.inner.blockStatus(offsetBytes, lengthBytes, maxExtents).then(this.onDone, this.onFail);
  }
  resize(sizeBytes: number): Promise<void> {
    return this.inner.resize(sizeBytes);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Resolves when no request is in flight, or after `timeoutMs` (returns false). */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.inflightCount === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private settle(enter: () => void): void {
    enter();
    if (--this.inflightCount === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }
}

