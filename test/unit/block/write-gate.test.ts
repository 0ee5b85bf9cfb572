import { describe, expect, it } from 'vitest';
import { GatedDevice, WriteGate } from '../../../src/block/write-gate.js';
import { MemoryDevice } from '../../../backends/memory/device.js';
import type { BlockDevice } from '../../../src/block/device.js';
import { LoopDevice } from '../../../src/worker/loop-device.js';

describe('GatedDevice fast paths', () => {
  it('writeNow declines while an exclusive section runs or waits, and works again after it', async () => {
    const dev = new GatedDevice(new MemoryDevice({ sizeBytes: 1 << 20 }), new WriteGate());
    const data = Buffer.alloc(4096, 0x42);
    expect(dev.writeNow(0, data)).toBe(true);
    let release!: () => void;
    const section = dev.gate.exclusive(() => new Promise<void>((r) => (release = r)));
    await Promise.resolve();
    expect(dev.writeNow(4096, data)).toBe(false); // would overtake the exclusive section
    release();
    await section;
    expect(dev.writeNow(4096, data)).toBe(true);
    const out = Buffer.alloc(8192);
    expect(dev.readNow(0, 8192, out, 0)).toBe(true);
    expect(out.every((b) => b === 0x42)).toBe(true);
  });

  it('offers only the fast paths the backend has, so protocols do not prepare for one that cannot happen', () => {
    const mem = new MemoryDevice({ sizeBytes: 1 << 20 });
    const plain: BlockDevice = { info: mem.info, read: (o, l) => mem.read(o, l), write: (o, d) => mem.write(o, d), flush: () => mem.flush(),
      discard: (o, l) => mem.discard(o, l), writeZeroes: (o, l) => mem.writeZeroes(o, l), blockStatus: (o, l) => mem.blockStatus(o, l),
      resize: (n) => mem.resize(n), close: () => mem.close() };
    for (const dev of [new GatedDevice(plain, new WriteGate()), new LoopDevice(plain, () => undefined, () => undefined)]) {
      expect([dev.readNow, dev.writeNow, dev.sendTo]).toEqual([undefined, undefined, undefined]);
    }
    const gated = new GatedDevice(new LoopDevice(mem, () => undefined, () => undefined), new WriteGate());
    expect([typeof gated.readNow, typeof gated.writeNow, gated.sendTo]).toEqual(['function', 'function', undefined]); // memory: no sendfile
  });

  it('turns a throwing backend into "use the promise path"', () => {
    const dev = new GatedDevice(new MemoryDevice({ sizeBytes: 1 << 20, readOnly: true }), new WriteGate());
    expect(dev.writeNow(0, Buffer.alloc(512))).toBe(false); // EROFS is reported by write(), not here
    expect(dev.readNow(1 << 20, 512, Buffer.alloc(512), 0)).toBe(false); // out of range
  });
});
