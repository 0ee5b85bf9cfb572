import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDevice } from '../../../backends/file/device.js';
import { readNowait } from '../../../backends/file/nowait-read.js';
import { WriteCoalescer } from '../../../backends/file/write-batch.js';

const KiB = 1024;
let dir: string;
let fd = -1;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-fast-'));
});
afterEach(() => {
  if (fd >= 0) fs.closeSync(fd);
  fd = -1;
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(bytes: Buffer): number {
  const p = path.join(dir, 'f.img');
  fs.writeFileSync(p, bytes);
  fd = fs.openSync(p, 'r+');
  return fd;
}

describe('inline page-cache reads (RWF_NOWAIT)', () => {
  it('copies cached data inline, or reports -1 so the caller falls back', () => {
    const data = Buffer.alloc(64 * KiB);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const f = file(data); // just written: in the page cache
    const buf = Buffer.alloc(4 * KiB);
    const n = readNowait(f, buf, 8 * KiB);
    expect(n === -1 || n === 4 * KiB).toBe(true);
    if (n > 0) expect(buf.equals(data.subarray(8 * KiB, 12 * KiB))).toBe(true);
    expect(readNowait(f, buf, 64 * KiB)).toBeLessThanOrEqual(0); // at end of file: 0 (or -1 without support)
  });

  it('reads into the middle of a shared slab at the given offset and length', () => {
    const data = Buffer.alloc(64 * KiB);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) % 251;
    const f = file(data);
    const slab = Buffer.alloc(32 * KiB, 0xee);
    const view = slab.subarray(100, 100 + 8 * KiB + 40);
    const n = readNowait(f, view, 12 * KiB, 40, 8 * KiB);
    expect(n === -1 || n === 8 * KiB).toBe(true);
    if (n < 0) return;
    expect(view.subarray(40).equals(data.subarray(12 * KiB, 20 * KiB))).toBe(true);
    expect(slab.subarray(0, 140).every((b) => b === 0xee)).toBe(true); // nothing before the target range
    expect(slab.subarray(140 + 8 * KiB).every((b) => b === 0xee)).toBe(true); // nor after it
    expect(readNowait(f, view, 0, 40, 8 * KiB + 1)).toBe(-1); // longer than the buffer: refused
  });

  it('FileDevice readNow / writeNow: same bytes as the promise path, false where they do not apply', async () => {
    const p = path.join(dir, 'now.img');
    fs.writeFileSync(p, Buffer.alloc(128 * KiB, 0x11));
    const dev = await FileDevice.open({ path: p, serial: 's' });
    try {
      const w = Buffer.alloc(4 * KiB, 0x77);
      expect(dev.writeNow(8 * KiB, w)).toBe(true);
      expect((await dev.read(8 * KiB, 4 * KiB)).equals(w)).toBe(true);
      const into = Buffer.alloc(16 + 4 * KiB);
      if (dev.readNow(8 * KiB, 4 * KiB, into, 16)) expect(into.subarray(16).equals(w)).toBe(true);
      expect(dev.readNow(0, 64 * KiB, Buffer.alloc(64 * KiB), 0)).toBe(false); // above the inline size
      expect(dev.writeNow(0, Buffer.alloc(64 * KiB))).toBe(false);
      expect(() => dev.readNow(128 * KiB, 4 * KiB, into, 16)).toThrow(/beyond device end/);
    } finally {
      await dev.close();
    }
  });

  it('FileDevice reads return the same bytes on both paths, with a zero sparse tail past end of file', async () => {
    const p = path.join(dir, 'lun.img');
    const data = Buffer.alloc(8 * KiB, 0x5a);
    fs.writeFileSync(p, data);
    const dev = await FileDevice.open({ path: p, serial: 's' });
    try {
      expect((await dev.read(0, 8 * KiB)).equals(data)).toBe(true); // inline size
      await dev.resize(256 * KiB); // the tail is a hole
      const big = await dev.read(0, 256 * KiB); // threadpool size
      expect(big.subarray(0, 8 * KiB).equals(data)).toBe(true);
      expect(big.subarray(8 * KiB).every((b) => b === 0)).toBe(true);
    } finally {
      await dev.close();
    }
  });
});

describe('write coalescing', () => {
  it('writes adjacent, scattered and overlapping-in-order writes of one tick correctly', async () => {
    const f = file(Buffer.alloc(256 * KiB));
    const w = new WriteCoalescer();
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(4 * KiB, i + 1));
    // 20 adjacent writes (more than one run), one far away, then one that rewrites the first page.
    const done = parts.map((b, i) => w.write(f, b, i * 4 * KiB));
    done.push(w.write(f, Buffer.alloc(KiB, 0xee), 200 * KiB));
    await Promise.all(done);
    await w.write(f, Buffer.alloc(4 * KiB, 0x77), 0);
    const got = fs.readFileSync(path.join(dir, 'f.img'));
    expect(got.subarray(0, 4 * KiB).every((b) => b === 0x77)).toBe(true);
    for (let i = 1; i < 20; i++) expect(got.subarray(i * 4 * KiB, (i + 1) * 4 * KiB).every((b) => b === i + 1)).toBe(true);
    expect(got.subarray(200 * KiB, 201 * KiB).every((b) => b === 0xee)).toBe(true);
    expect(got.subarray(80 * KiB, 200 * KiB).every((b) => b === 0)).toBe(true);
  });

  it('fails every write of a run when the descriptor is bad', async () => {
    const w = new WriteCoalescer();
    const bad = 1_000_000;
    const results = await Promise.allSettled([w.write(bad, Buffer.alloc(512), 0), w.write(bad, Buffer.alloc(512), 512)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
