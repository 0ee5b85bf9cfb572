import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKOFF_MS, InlineWriter, SLOW_WRITE_MS } from '../../../backends/file/inline-write.js';

let dir: string;
let fd: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-inline-'));
  fd = fs.openSync(path.join(dir, 'f'), 'w+');
});
afterEach(() => {
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('InlineWriter', () => {
  it('writes small buffers in place and leaves large ones to the threadpool', () => {
    const w = new InlineWriter(8192);
    expect(w.tryWrite(fd, Buffer.alloc(4096, 7), 65536)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'f')).subarray(65536, 65536 + 4096).equals(Buffer.alloc(4096, 7))).toBe(true);
    expect(w.tryWrite(fd, Buffer.alloc(8193, 1), 0)).toBe(false);
    expect(fs.fstatSync(fd).size).toBe(65536 + 4096); // the large one was not written
  });

  it('writes the bytes of views into one shared buffer at their own offsets', () => {
    const slab = Buffer.alloc(64 * 1024);
    for (let i = 0; i < slab.length; i++) slab[i] = (i * 7) % 251;
    const w = new InlineWriter(8192);
    // The second view reuses the address looked up for the first (same ArrayBuffer).
    const views = [slab.subarray(1000, 1000 + 4096), slab.subarray(30_001, 30_001 + 3000)];
    expect(w.tryWrite(fd, views[0]!, 8192)).toBe(true);
    expect(w.tryWrite(fd, views[1]!, 20_000)).toBe(true);
    const file = fs.readFileSync(path.join(dir, 'f'));
    expect(file.subarray(8192, 8192 + 4096).equals(views[0]!)).toBe(true);
    expect(file.subarray(20_000, 23_000).equals(views[1]!)).toBe(true);
    expect(file.subarray(0, 8192).every((b) => b === 0)).toBe(true);
  });

  it('a run of slow writes turns inline writes off for the back-off period, then back on; one alone does not', () => {
    let t = 0;
    let slow = false;
    // Each write reads the clock twice; a "slow" one ends SLOW_WRITE_MS + 0.5 after it started.
    let second = false;
    const w = new InlineWriter(8192, () => {
      second = !second;
      return second || !slow ? t : t + SLOW_WRITE_MS + 0.5;
    });
    slow = true;
    expect(w.tryWrite(fd, Buffer.alloc(512, 1), 0)).toBe(true);
    expect(w.backoffs).toBe(0); // one slow write: a hiccup, not throttling
    t = 2000; // the next ones come long after: still no run
    expect(w.tryWrite(fd, Buffer.alloc(512, 1), 0)).toBe(true);
    t = 2100;
    expect(w.tryWrite(fd, Buffer.alloc(512, 1), 0)).toBe(true);
    expect(w.backoffs).toBe(0);
    t = 2200; // third slow write within SLOW_WINDOW_MS of the first of the run
    expect(w.tryWrite(fd, Buffer.alloc(512, 1), 0)).toBe(true);
    expect(w.backoffs).toBe(1);
    slow = false;
    t = 2200 + SLOW_WRITE_MS + 1;
    expect(w.tryWrite(fd, Buffer.alloc(512, 2), 0)).toBe(false);
    t = 2200 + SLOW_WRITE_MS + 1 + BACKOFF_MS;
    expect(w.tryWrite(fd, Buffer.alloc(512, 3), 0)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'f'))[0]).toBe(3);
  });

  it('an I/O error is thrown to the caller', () => {
    const ro = fs.openSync(path.join(dir, 'f'), 'r');
    try {
      expect(() => new InlineWriter(8192).tryWrite(ro, Buffer.alloc(512), 0)).toThrow(/EBADF/);
    } finally {
      fs.closeSync(ro);
    }
  });
});
