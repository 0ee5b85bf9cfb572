import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkStore } from '../../../../backends/chunk/chunkserver/chunk-store.js';
import { CHUNK_HEADER_BYTES, decodeChunkHeader, encodeChunkHeader, freshMeta } from '../../../../backends/chunk/chunkserver/chunk-format.js';

const KiB = 1024;
const dirs: string[] = [];
const stores: ChunkStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(dataDir?: string): Promise<{ store: ChunkStore; dir: string }> {
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'bg-chunkstore-'));
  if (!dataDir) dirs.push(dir);
  const store = await ChunkStore.open({ dataDir: dir, chunkSizeBytes: 64 * KiB, poolTarget: 2 });
  stores.push(store);
  await store.pool.fill();
  return { store, dir };
}

describe('chunk header', () => {
  it('round-trips metadata and rejects a torn header', () => {
    const meta = { ...freshMeta(7, 123456789, 16 << 20), chunkSeq: 5, snapshotSeq: 2, cloneSource: 'vol:9', cloneOffsetBytes: 4096 };
    const b = encodeChunkHeader(meta);
    expect(b.length).toBe(CHUNK_HEADER_BYTES);
    expect(decodeChunkHeader(b)).toEqual(meta);
    b[100] ^= 1;
    expect(decodeChunkHeader(b)).toBeUndefined();
    expect(decodeChunkHeader(Buffer.alloc(CHUNK_HEADER_BYTES))).toBeUndefined();
  });
});

describe('ChunkStore', () => {
  it('reads zeroes from unknown chunks and from unwritten ranges', async () => {
    const { store } = await open();
    expect((await store.read(1, 5, 100, 4 * KiB)).equals(Buffer.alloc(4 * KiB))).toBe(true);
    expect(await store.info(1, 5)).toBeUndefined();
    await store.write(1, 5, 8 * KiB, Buffer.alloc(KiB, 0xab), 3);
    const back = await store.read(1, 5, 7 * KiB, 3 * KiB);
    expect(back.subarray(0, KiB).equals(Buffer.alloc(KiB))).toBe(true);
    expect(back.subarray(KiB, 2 * KiB).equals(Buffer.alloc(KiB, 0xab))).toBe(true);
    expect(back.subarray(2 * KiB).equals(Buffer.alloc(KiB))).toBe(true);
    expect(() => store.read(1, 5, 63 * KiB, 2 * KiB)).rejects.toBeInstanceOf(RangeError);
  });

  it('takes chunk files from the pre-allocated pool and returns them on delete', async () => {
    const { store, dir } = await open();
    const poolDir = path.join(dir, 'chunkpool');
    expect(readdirSync(poolDir).filter((n) => n.startsWith('clean-'))).toHaveLength(2);
    await store.write(2, 1, 0, Buffer.alloc(512, 1), 1);
    const file = path.join(dir, 'chunks', '2', '1');
    expect(statSync(file).size).toBe(CHUNK_HEADER_BYTES + 64 * KiB);
    expect(store.pool.misses).toBe(0);
    expect(store.chunkCount).toBe(1);
    await store.delete(2, 1);
    expect(store.chunkCount).toBe(0);
    expect(readdirSync(path.join(dir, 'chunks', '2'))).toEqual([]);
    await store.pool.fill();
    // the deleted file came back zeroed: a new chunk made from it reads zeroes
    for (let i = 0; i < 3; i++) await store.write(2, 10 + i, 4 * KiB, Buffer.alloc(16, 9), 1);
    for (let i = 0; i < 3; i++) expect((await store.read(2, 10 + i, 0, 512)).equals(Buffer.alloc(512))).toBe(true);
    expect(await store.list(2)).toEqual([10, 11, 12]);
  });

  it('persists data and metadata across a reopen; deleted chunks read as zeroes', async () => {
    const { store, dir } = await open();
    await store.write(3, 42, 1000, Buffer.from('hello chunk'), 7);
    await store.write(3, 42, 0, Buffer.from('x'), 4); // an older seq does not lower chunkSeq
    await store.write(3, 43, 0, Buffer.from('gone'), 1);
    await store.delete(3, 43);
    await store.syncCopyset(3);
    await store.close();
    stores.pop();
    const again = (await open(dir)).store;
    expect((await again.read(3, 42, 1000, 11)).toString()).toBe('hello chunk');
    expect(await again.info(3, 42)).toMatchObject({ copysetId: 3, chunkId: 42, chunkSeq: 7, snapshotSeq: 0, cloneSource: '' });
    expect((await again.read(3, 43, 0, 4)).equals(Buffer.alloc(4))).toBe(true);
    expect(again.chunkCount).toBe(1);
    await again.removeCopyset(3);
    expect(await again.list(3)).toEqual([]);
  });

  it('delete waits for a concurrent read of the same chunk', async () => {
    const { store } = await open();
    await store.write(4, 1, 0, Buffer.alloc(32 * KiB, 7), 1);
    const [data] = await Promise.all([store.read(4, 1, 0, 32 * KiB), store.delete(4, 1)]);
    expect(data.equals(Buffer.alloc(32 * KiB, 7))).toBe(true);
    expect(await store.info(4, 1)).toBeUndefined();
  });
});
