/**
 * A BlockDevice wrapper that injects latency and errors, for tests of what
 * the protocol cores do with slow or failing storage (the role nbdkit's
 * `delay` and `error` filters play). Configured from the LUN's bsopts on
 * any bstype (options.ts, README.md).
 *
 * Each request first waits its delay, then either fails with the configured
 * BlockError kind (the wrapped device is not called: an injected write
 * error writes nothing) or is passed through. `random` and `exists` are
 * inputs so tests can make the injection deterministic.
 */
import fs from 'node:fs';
import {
  BlockError,
  type BlockDevice,
  type BlockDeviceInfo,
  type Extent,
  type WriteOptions,
  type WriteZeroesOptions,
} from '../../src/block/device.js';
import type { FaultOp, FaultOptions } from './options.js';

export interface FaultInputs {
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** Does the trigger file exist? default fs.existsSync. */
  exists?: (path: string) => boolean;
  /** Called once per injected error (for counting in tests / logging). */
  onInject?: (op: FaultOp, kind: string) => void;
}

export class FaultDevice implements BlockDevice {
  private readonly random: () => number;
  private readonly exists: (path: string) => boolean;

  constructor(
    readonly inner: BlockDevice,
    readonly options: FaultOptions,
    private readonly inputs: FaultInputs = {},
  ) {
    this.random = inputs.random ?? Math.random;
    this.exists = inputs.exists ?? fs.existsSync;
  }

  get info(): BlockDeviceInfo {
    return this.inner.info;
  }

  read(offsetBytes: number, lengthBytes: number, into?: Buffer): Promise<Buffer> {
    return this.run('read', () => this.inner.read(offsetBytes, lengthBytes, into));
  }

  write(offsetBytes: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    return this.run('write', () => this.inner.write(offsetBytes, data, opts));
  }

  flush(): Promise<void> {
    return this.run('flush', () => this.inner.flush());
  }

  discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    return this.run('trim', () => this.inner.discard(offsetBytes, lengthBytes));
  }

  writeZeroes(offsetBytes: number, lengthBytes: number, opts?: WriteZeroesOptions): Promise<void> {
    return this.run('zero', () => this.inner.writeZeroes(offsetBytes, lengthBytes, opts));
  }

  /** Allocation queries are metadata: passed through without faults. */
  blockStatus(offsetBytes: number, lengthBytes: number, maxExtents?: number): Promise<Extent[]> {
    return this.inner.blockStatus(offsetBytes, lengthBytes, maxExtents);
  }

  resize(sizeBytes: number): Promise<void> {
    return this.inner.resize(sizeBytes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async run<T>(op: FaultOp, call: () => Promise<T>): Promise<T> {
    const delay = this.options.delayMs[op];
    if (delay !== undefined && delay > 0) await new Promise((r) => setTimeout(r, delay));
    const rule = this.options.errors[op];
    if (rule && this.armed() && this.random() < rule.rate) {
      this.inputs.onInject?.(op, rule.kind);
      throw new BlockError(rule.kind, `injected ${rule.kind} on ${op} (fault backend)`);
    }
    return call();
  }

  private armed(): boolean {
    const file = this.options.errorFile;
    return file === undefined || this.exists(file);
  }
}
