import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDevice } from '../../../backends/file/device.js';
import { BlockError } from '../../../src/block/device.js';

const MiB = 1024 * 1024;
let dir: string;
let dev: FileDevice | undefined;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-file-'));
});
afterEach(async () => {
  await dev?.close();
  dev = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open(extra: Partial<Parameters<typeof FileDevice.open>[0]> = {}): Promise<FileDevice> {
  dev = await FileDevice.open({ path: path.join(dir, 'lun.img'), createSizeBytes: 16 * MiB, serial: 's1', ...extra });
  return dev;
}

describe('FileDevice', () => {
  it('creates a sparse file of the requested size that reads as zeroes', async () => {
    const d = await open();
    expect(d.info.sizeBytes).toBe(16 * MiB);
    expect(fs.statSync(path.join(dir, 'lun.img')).blocks).toBe(0);
    const buf = await d.read(4096, 8192);
    expect(buf.equals(Buffer.alloc(8192))).toBe(true);
    expect(await d.blockStatus(0, 16 * MiB)).toEqual([{ offsetBytes: 0, lengthBytes: 16 * MiB, hole: true, zero: true }]);
  });

  it('writes, reads back, and reports the written range as data', async () => {
    const d = await open();
    const data = Buffer.alloc(64 * 1024, 0xab);
    await d.write(MiB, data);
    expect((await d.read(MiB, 64 * 1024)).equals(data)).toBe(true);
    const map = await d.blockStatus(0, 4 * MiB);
    const dataRuns = map.filter((e) => !e.hole);
    expect(dataRuns.length).toBe(1);
    expect(dataRuns[0]!.offsetBytes).toBeLessThanOrEqual(MiB);
    expect(dataRuns[0]!.offsetBytes + dataRuns[0]!.lengthBytes).toBeGreaterThanOrEqual(MiB + 64 * 1024);
    expect(map.reduce((n, e) => n + e.lengthBytes, 0)).toBe(4 * MiB);
  });

  it('blockStatus with maxExtents stops early and reports only what it walked', async () => {
    const d = await open();
    // 32 data runs of 4 KiB, each followed by a 60 KiB hole: 64 extents over 2 MiB.
    for (let i = 0; i < 32; i++) await d.write(i * 64 * 1024, Buffer.alloc(4096, 1));
    const full = await d.blockStatus(0, 16 * MiB);
    expect(full.length).toBeGreaterThanOrEqual(64);
    const some = await d.blockStatus(0, 16 * MiB, 5);
    expect(some.length).toBeGreaterThanOrEqual(5);
    expect(some.length).toBeLessThan(full.length);
    // The same extents as the full walk, ending where the walk stopped: nothing
    // beyond it is reported (as data or otherwise).
    expect(some).toEqual(full.slice(0, some.length));
    // Short walks seek on the loop: no data past 2 MiB (ENXIO) is one hole to the end.
    expect(await d.blockStatus(2 * MiB, 14 * MiB, 5)).toEqual([{ offsetBytes: 2 * MiB, lengthBytes: 14 * MiB, hole: true, zero: true }]);
  });

  it('FUA writes land on the file; flush succeeds', async () => {
    const d = await open();
    await d.write(0, Buffer.alloc(4096, 7), { fua: true });
    await d.flush();
    const raw = fs.readFileSync(path.join(dir, 'lun.img')).subarray(0, 4096);
    expect(raw.every((b) => b === 7)).toBe(true);
  });

  it('discard punches a hole that reads back as zeroes', async () => {
    const d = await open();
    await d.write(0, Buffer.alloc(2 * MiB, 1));
    await d.discard(MiB, MiB);
    expect((await d.read(MiB, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    const map = await d.blockStatus(0, 2 * MiB);
    expect(map).toContainEqual({ offsetBytes: MiB, lengthBytes: MiB, hole: true, zero: true });
  });

  it('writeZeroes zeroes without deallocating unless allowed', async () => {
    const d = await open();
    await d.write(0, Buffer.alloc(MiB, 9));
    await d.writeZeroes(0, 512 * 1024);
    expect((await d.read(0, 512 * 1024)).equals(Buffer.alloc(512 * 1024))).toBe(true);
    expect((await d.read(512 * 1024, 512)).every((b) => b === 9)).toBe(true);
    await d.writeZeroes(512 * 1024, 512 * 1024, { mayDeallocate: true });
    expect((await d.read(0, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
  });

  it('rejects out-of-range I/O with EINVAL and writes to read-only devices with EROFS', async () => {
    const d = await open();
    await expect(d.read(16 * MiB - 512, 1024)).rejects.toMatchObject({ kind: 'EINVAL' });
    await expect(d.write(16 * MiB, Buffer.alloc(512))).rejects.toBeInstanceOf(BlockError);
    await d.close();
    dev = await FileDevice.open({ path: path.join(dir, 'lun.img'), serial: 's1', readOnly: true });
    await expect(dev.write(0, Buffer.alloc(512))).rejects.toMatchObject({ kind: 'EROFS' });
    await expect(dev.discard(0, 512)).rejects.toMatchObject({ kind: 'EROFS' });
  });

  it('resizes the file and reports the new size', async () => {
    const d = await open();
    await d.resize(32 * MiB);
    expect(d.info.sizeBytes).toBe(32 * MiB);
    expect(fs.statSync(path.join(dir, 'lun.img')).size).toBe(32 * MiB);
    await d.write(31 * MiB, Buffer.alloc(512, 3));
  });

  it('rejects I/O after close with ESHUTDOWN', async () => {
    const d = await open();
    await d.close();
    await expect(d.read(0, 512)).rejects.toMatchObject({ kind: 'ESHUTDOWN' });
    dev = undefined;
  });
});
