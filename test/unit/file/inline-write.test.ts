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

  it('a slow write turns inline writes off for the back-off period, then back on', () => {
    let t = 0;
    const clock = [0, SLOW_WRITE_MS + 0.5]; // the first write "takes" longer than the limit
    const w = new InlineWriter(8192, () => (clock.length ? clock.shift()! : t));
    expect(w.tryWrite(fd, Buffer.alloc(512, 1), 0)).toBe(true);
    expect(w.backoffs).toBe(1);
    t = SLOW_WRITE_MS + 1;
    expect(w.tryWrite(fd, Buffer.alloc(512, 2), 0)).toBe(false);
    t = SLOW_WRITE_MS + 1 + BACKOFF_MS;
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
