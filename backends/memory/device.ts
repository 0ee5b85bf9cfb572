/**
 * A sparse in-memory device: 64 KiB pages allocated on first write.
 *
 * Used by unit tests of the protocol cores and by benchmarks that want to
 * measure the protocol path without a disk (nbdkit's `memory` plugin plays
 * the same role). Nothing is durable; flush() is a no-op.
 */
import { BlockError, type BlockDevice, type BlockDeviceInfo, type Extent, type WriteZeroesOptions } from '../../src/block/device.js';

const PAGE_BYTES = 64 * 1024;

export interface MemoryDeviceOptions {
  sizeBytes: number;
  blockSize?: number;
  readOnly?: boolean;
  serial?: string;
}

export class MemoryDevice implements BlockDevice {
  readonly info: BlockDeviceInfo;
  private readonly pages = new Map<number, Buffer>();
  private closed = false;

  constructor(opts: MemoryDeviceOptions) {
    const blockSize = opts.blockSize ?? 512;
    if (opts.sizeBytes % blockSize !== 0) throw new BlockError('EINVAL', 'size is not a multiple of the block size');
    this.info = {
      sizeBytes: opts.sizeBytes,
      blockSize,
      physicalBlockSize: Math.max(blockSize, 4096),
      readOnly: opts.readOnly ?? false,
      canDiscard: true,
      canWriteZeroes: true,
      canBlockStatus: true,
      hasVolatileCache: false,
      maxTransferBytes: 32 * 1024 * 1024,
      serial: opts.serial ?? 'memory',
    };
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.check(offsetBytes, lengthBytes, false);
    const out = Buffer.alloc(lengthBytes);
    this.forEachPage(offsetBytes, lengthBytes, (page, pageOff, outOff, n) => {
      const p = this.pages.get(page);
      if (p) p.copy(out, outOff, pageOff, pageOff + n);
    });
    return out;
  }

  readNow(offsetBytes: number, lengthBytes: number, into: Buffer, intoOffset: number): boolean {
    this.check(offsetBytes, lengthBytes, false);
    if (intoOffset < 0 || intoOffset + lengthBytes > into.length) return false;
    this.forEachPage(offsetBytes, lengthBytes, (page, pageOff, outOff, n) => {
      const p = this.pages.get(page);
      if (p) p.copy(into, intoOffset + outOff, pageOff, pageOff + n);
      else into.fill(0, intoOffset + outOff, intoOffset + outOff + n);
    });
    return true;
  }

  writeNow(offsetBytes: number, data: Buffer): boolean {
    this.writeSync(offsetBytes, data);
    return true;
  }

  async write(offsetBytes: number, data: Buffer): Promise<void> {
    this.writeSync(offsetBytes, data);
  }

  private writeSync(offsetBytes: number, data: Buffer): void {
    this.check(offsetBytes, data.length, true);
    this.forEachPage(offsetBytes, data.length, (page, pageOff, srcOff, n) => {
      let p = this.pages.get(page);
      if (!p) {
        p = Buffer.alloc(PAGE_BYTES);
        this.pages.set(page, p);
      }
      data.copy(p, pageOff, srcOff, srcOff + n);
    });
  }

  async flush(): Promise<void> {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
  }

  async discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.check(offsetBytes, lengthBytes, true);
    this.forEachPage(offsetBytes, lengthBytes, (page, pageOff, _o, n) => {
      const p = this.pages.get(page);
      if (!p) return;
      if (n === PAGE_BYTES) this.pages.delete(page);
      else p.fill(0, pageOff, pageOff + n);
    });
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number, _opts?: WriteZeroesOptions): Promise<void> {
    await this.discard(offsetBytes, lengthBytes);
  }

  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    this.check(offsetBytes, 0, false);
    const end = Math.min(offsetBytes + lengthBytes, this.info.sizeBytes);
    const extents: Extent[] = [];
    let pos = offsetBytes;
    while (pos < end) {
      const page = Math.floor(pos / PAGE_BYTES);
      const next = Math.min((page + 1) * PAGE_BYTES, end);
      const hole = !this.pages.has(page);
      const last = extents[extents.length - 1];
      if (last && last.hole === hole) last.lengthBytes += next - pos;
      else extents.push({ offsetBytes: pos, lengthBytes: next - pos, hole, zero: hole });
      pos = next;
    }
    return extents;
  }

  async resize(sizeBytes: number): Promise<void> {
    if (sizeBytes % this.info.blockSize !== 0) throw new BlockError('EINVAL', 'size is not a multiple of the block size');
    if (sizeBytes < this.info.sizeBytes) {
      for (const page of this.pages.keys()) if (page * PAGE_BYTES >= sizeBytes) this.pages.delete(page);
    }
    this.info.sizeBytes = sizeBytes;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pages.clear();
  }

  private check(offsetBytes: number, lengthBytes: number, writing: boolean): void {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (writing && this.info.readOnly) throw new BlockError('EROFS', 'device is read-only');
    if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.info.sizeBytes) {
      throw new BlockError('EINVAL', `range ${offsetBytes}+${lengthBytes} beyond device end ${this.info.sizeBytes}`);
    }
  }

  private forEachPage(offsetBytes: number, lengthBytes: number, fn: (page: number, pageOff: number, bufOff: number, n: number) => void): void {
    let done = 0;
    while (done < lengthBytes) {
      const pos = offsetBytes + done;
      const page = Math.floor(pos / PAGE_BYTES);
      const pageOff = pos % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - pageOff, lengthBytes - done);
      fn(page, pageOff, done, n);
      done += n;
    }
  }
}
