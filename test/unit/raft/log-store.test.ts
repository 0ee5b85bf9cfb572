import { mkdtemp, readdir, rm, stat, truncate, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogStore, decodeRecords, encodeRecord } from '../../../backends/chunk/raft/log-store.js';
import type { Entry } from '../../../backends/chunk/raft/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raft-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ent(index: number, term = 1, text = `e${index}`): Entry {
  return { index, term, type: index % 7 === 0 ? 'conf' : 'normal', data: new TextEncoder().encode(text) };
}

function range(lo: number, hi: number, term = 1): Entry[] {
  return Array.from({ length: hi - lo + 1 }, (_, k) => ent(lo + k, term));
}

describe('log-store records', () => {
  it('round-trips and stops at a corrupt record', () => {
    const buf = Buffer.concat([encodeRecord(ent(1)), encodeRecord(ent(2)), encodeRecord(ent(3))]);
    expect(decodeRecords(buf).entries.map((e) => e.index)).toEqual([1, 2, 3]);
    buf[buf.length - 1]! ^= 0xff; // flip a data byte of record 3: CRC32C mismatch
    const r = decodeRecords(buf);
    expect(r.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(r.goodBytes).toBe(buf.length - encodeRecord(ent(3)).length);
  });
});

describe('LogStore', () => {
  it('persists entries, hard state and snapshot across reopen', async () => {
    const { store } = await LogStore.open(dir);
    await store.append(range(1, 5));
    await store.saveHardState({ term: 3, vote: 2, commit: 4 });
    await store.saveSnapshot({ meta: { index: 2, term: 1, conf: { voters: [1, 2, 3], learners: [] } }, data: Uint8Array.of(9) }, false);
    await store.close();
    const { state } = await LogStore.open(dir);
    expect(state.hardState).toEqual({ term: 3, vote: 2, commit: 4 });
    expect(state.snapshot?.meta.index).toBe(2);
    expect([...state.snapshot!.data]).toEqual([9]);
    expect(state.entries.map((e) => e.index)).toEqual([3, 4, 5]);
    expect(state.entries[2]!.data).toEqual(new TextEncoder().encode('e5'));
    const mem = LogStore.toMemoryStorage(state);
    expect(mem.firstIndex()).toBe(3);
    expect(mem.lastIndex()).toBe(5);
  });

  it('group-commits concurrent appends and resolves them all', async () => {
    const { store } = await LogStore.open(dir);
    await Promise.all([store.append(range(1, 3)), store.append(range(4, 6)), store.append(range(7, 9))]);
    expect(store.lastIndex()).toBe(9);
    await store.close();
    const { state } = await LogStore.open(dir);
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('truncates a conflicting suffix, across segments', async () => {
    const { store } = await LogStore.open(dir, { segmentBytes: 100 });
    await store.append(range(1, 12));
    const segsBefore = (await readdir(dir)).filter((n) => n.endsWith('.seg')).length;
    expect(segsBefore).toBeGreaterThan(2);
    await store.append(range(4, 6, 2)); // leader of term 2 overwrites from 4
    await store.close();
    const { state } = await LogStore.open(dir);
    expect(state.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/2', '6/2']);
  });

  it('recovers from a torn tail by cutting the incomplete record', async () => {
    const { store } = await LogStore.open(dir);
    await store.append(range(1, 4));
    await store.close();
    const [seg] = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    const path = join(dir, seg!);
    const size = (await stat(path)).size;
    await truncate(path, size - 3); // crash in the middle of writing record 4
    const { store: again, state } = await LogStore.open(dir);
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(state.truncatedBytes).toBeGreaterThan(0);
    // the log continues cleanly after the cut
    await again.append([ent(4, 2)]);
    await again.close();
    const { state: s2 } = await LogStore.open(dir);
    expect(s2.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2']);
    expect(s2.truncatedBytes).toBe(0);
  });

  it('recovers from garbage appended after the last record', async () => {
    const { store } = await LogStore.open(dir);
    await store.append(range(1, 2));
    await store.close();
    const [seg] = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    const path = join(dir, seg!);
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5])]));
    const { state } = await LogStore.open(dir);
    expect(state.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(state.truncatedBytes).toBe(9);
  });

  it('refuses a corrupt record in an older segment', async () => {
    const { store } = await LogStore.open(dir, { segmentBytes: 60 });
    await store.append(range(1, 6));
    await store.close();
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    const path = join(dir, segs[0]!);
    const buf = await readFile(path);
    buf[buf.length - 1]! ^= 0xff;
    await writeFile(path, buf);
    await expect(LogStore.open(dir)).rejects.toThrow(/corrupt/);
  });

  it('compacts whole segments covered by a snapshot, and replaces the log on install', async () => {
    const { store } = await LogStore.open(dir, { segmentBytes: 60 });
    await store.append(range(1, 10));
    await store.saveSnapshot({ meta: { index: 6, term: 1, conf: { voters: [1], learners: [] } }, data: new Uint8Array(0) }, false);
    await store.compact(6);
    const left = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    expect(left.length).toBeLessThan(10);
    await store.saveSnapshot({ meta: { index: 20, term: 3, conf: { voters: [1], learners: [] } }, data: new Uint8Array(0) }, true);
    await store.append(range(21, 22, 3));
    await store.close();
    const { state } = await LogStore.open(dir);
    expect(state.snapshot?.meta.index).toBe(20);
    expect(state.entries.map((e) => e.index)).toEqual([21, 22]);
  });
});
