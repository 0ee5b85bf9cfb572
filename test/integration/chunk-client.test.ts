import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkVolumeDevice, type ChunkVolumeOptions } from '../../backends/chunk/client/device.js';
import { SenderPool } from '../../backends/chunk/client/sender-pool.js';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { runMds, type MdsHandle } from '../../backends/chunk/mds/server.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { FakeChunkCluster } from '../helpers/fake-chunk-io.js';

const KiB = 1024;
const CHUNK = 16 * KiB;
const SEGMENT = 64 * KiB;
const log = pino({ level: 'silent' });
const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-chunk-client-'));
let mds: MdsHandle;
let admin: MdsClient;
let cluster: FakeChunkCluster;
const devices: ChunkVolumeDevice[] = [];

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

async function open(volume: string, extra: Partial<ChunkVolumeOptions> = {}): Promise<ChunkVolumeDevice> {
  const d = await ChunkVolumeDevice.open({ volume, mds: [mds.address], serial: volume, pool: new SenderPool(), log, rpcTimeoutMs: 1000, ...extra });
  devices.push(d);
  return d;
}

beforeAll(async () => {
  mds = await runMds({
    listen: '127.0.0.1:0', dataDir: dir, log, tickMs: 50, copysetSettleMs: 100,
    config: { segmentSizeBytes: SEGMENT, chunkSizeBytes: CHUNK, copysetsPerChunkserver: 2, maxCopysetsPerChunkserver: 4 },
  });
  admin = new MdsClient([mds.address], { callTimeoutMs: 2000 });
  cluster = await FakeChunkCluster.start(admin, 3, CHUNK);
});

afterAll(async () => {
  for (const d of devices) await d.close().catch(() => undefined);
  admin?.close();
  await cluster?.stop();
  await mds?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ChunkVolumeDevice against fake chunkservers', () => {
  it('refuses a missing volume, creates one when asked, and reports its geometry', async () => {
    await expect(open('missing')).rejects.toMatchObject({ kind: 'EINVAL' });
    const d = await open('vol1', { createSizeBytes: 4 * SEGMENT });
    expect(d.info).toMatchObject({ sizeBytes: 4 * SEGMENT, blockSize: 512, canDiscard: false, hasVolatileCache: false, canBlockStatus: true });
    expect((await admin.getVolume('vol1')).sizeBytes).toBe(4 * SEGMENT);
  });

  it('reads unallocated space as zeroes without asking any chunkserver', async () => {
    const d = await open('vol1');
    const before = cluster.requests;
    const buf = await d.read(SEGMENT - 4 * KiB, 8 * KiB);
    expect(buf.equals(Buffer.alloc(8 * KiB))).toBe(true);
    expect(cluster.requests).toBe(before);
    expect(await d.blockStatus(0, 4 * SEGMENT)).toEqual([{ offsetBytes: 0, lengthBytes: 4 * SEGMENT, hole: true, zero: true }]);
  });

  it('splits a write across chunks and segments, follows NOT_LEADER to the leader, and reads it back', async () => {
    cluster.leader = 1;
    const events = { retry: 0, failover: 0 };
    const d = await open('vol1', { events: { retry: () => events.retry++, failover: () => events.failover++ } });
    const data = pattern(3 * CHUNK + 4 * KiB, 1);
    const off = SEGMENT - CHUNK - 2 * KiB; // spans segments 0 and 1
    await d.write(off, data);
    expect(cluster.nodes[0]!.notLeaderReplies + cluster.nodes[2]!.notLeaderReplies).toBeGreaterThan(0);
    expect(d.stats.leaderChanges).toBeGreaterThan(0);
    // The daemon's metrics listeners see exactly what the device counts.
    expect(events).toEqual({ retry: d.stats.retries, failover: d.stats.leaderChanges });
    expect((await d.read(off, data.length)).equals(data)).toBe(true);
    // allocated but never written chunk → CHUNK_NOT_EXIST → zeroes
    expect((await d.read(SEGMENT + 3 * CHUNK, 4 * KiB)).equals(Buffer.alloc(4 * KiB))).toBe(true);
    const map = await d.blockStatus(0, 4 * SEGMENT);
    expect(map).toEqual([
      { offsetBytes: 0, lengthBytes: 2 * SEGMENT, hole: false, zero: false },
      { offsetBytes: 2 * SEGMENT, lengthBytes: 2 * SEGMENT, hole: true, zero: true },
    ]);
  });

  it('pipelines many requests over one connection per chunkserver', async () => {
    const d = await open('vol1');
    const leader = cluster.nodes[cluster.leader]!;
    leader.remotes.clear();
    await Promise.all(Array.from({ length: 64 }, (_, i) => d.write(i * 2 * KiB, pattern(2 * KiB, i))));
    expect(leader.remotes.size).toBe(1);
    const back = await d.read(0, 128 * KiB);
    for (let i = 0; i < 64; i++) expect(back.subarray(i * 2 * KiB, (i + 1) * 2 * KiB).equals(pattern(2 * KiB, i))).toBe(true);
  });

  it('survives a leader that disappears mid-request: the write completes on the new leader', async () => {
    const d = await open('vol1');
    await d.write(0, pattern(4 * KiB, 2)); // warm the caches: the target is the leader now
    const old = cluster.nodes[cluster.leader]!;
    old.hang = true;
    const data = pattern(2 * CHUNK, 3);
    const pending = d.write(CHUNK, data);
    await new Promise((r) => setTimeout(r, 200));
    expect(old.requests).toBeGreaterThan(0);
    cluster.leader = (old.index + 1) % 3; // "failover"
    await cluster.kill(old.index);
    await pending;
    expect((await d.read(CHUNK, data.length)).equals(data)).toBe(true);
    expect(d.stats.retries).toBeGreaterThan(0);
  });

  it('retries OVERLOAD and fails IO_ERROR with EIO', async () => {
    const d = await open('vol1');
    await d.read(0, 4 * KiB); // cache the leader
    const leader = cluster.nodes[cluster.leader]!;
    leader.failNext = { status: STATUS.OVERLOAD, count: 2 };
    const data = pattern(4 * KiB, 4);
    await d.write(8 * KiB, data);
    expect((await d.read(8 * KiB, 4 * KiB)).equals(data)).toBe(true);
    leader.failNext = { status: STATUS.IO_ERROR, count: 1 };
    await expect(d.write(8 * KiB, data)).rejects.toMatchObject({ kind: 'EIO' });
  });

  it('zeroes allocated space with writeZeroes and skips unallocated space', async () => {
    const d = await open('vol1');
    const before = cluster.requests;
    await d.writeZeroes(3 * SEGMENT, SEGMENT);
    expect(cluster.requests).toBe(before);
    await d.writeZeroes(CHUNK, 4 * KiB);
    expect((await d.read(CHUNK, 4 * KiB)).equals(Buffer.alloc(4 * KiB))).toBe(true);
  });

  it('grows through the MDS, refuses to shrink or discard, and shuts down cleanly', async () => {
    const d = await open('vol1');
    await d.resize(5 * SEGMENT);
    expect(d.info.sizeBytes).toBe(5 * SEGMENT);
    expect((await admin.getVolume('vol1')).sizeBytes).toBe(5 * SEGMENT);
    await expect(d.resize(SEGMENT)).rejects.toMatchObject({ kind: 'ENOTSUP' });
    await expect(d.discard(0, 4096)).rejects.toMatchObject({ kind: 'ENOTSUP' });
    await expect(d.read(5 * SEGMENT, 512)).rejects.toMatchObject({ kind: 'EINVAL' });
    await d.flush();
    await d.close();
    await expect(d.read(0, 512)).rejects.toMatchObject({ kind: 'ESHUTDOWN' });
    await expect(d.flush()).rejects.toMatchObject({ kind: 'ESHUTDOWN' });
  });

  it('fails with ETIMEDOUT when no member answers before the deadline', async () => {
    const d = await open('vol1', { deadlineMs: 600, rpcTimeoutMs: 200 });
    await d.read(0, 512);
    for (const n of cluster.nodes) if (!n.dead) n.hang = true;
    await expect(d.write(0, pattern(4 * KiB, 5))).rejects.toMatchObject({ kind: 'ETIMEDOUT' });
    for (const n of cluster.nodes) n.hang = false;
  });
});
