/**
 * Three (then four) chunkservers in this process with real RPC on loopback,
 * real temp dirs and an MDS with a FileStore: copysets bootstrap from MDS
 * heartbeats, writes go through the Raft leader, a new leader serves every
 * acknowledged write after the old one stops, a member restarted with an
 * empty data dir catches up by snapshot + chunk file fetch, and the MDS
 * repairs a copyset (addPeer → learner → voter, removePeer) through the
 * leader.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { runChunkserver, type ChunkserverHandle, type ChunkserverOptions } from '../../backends/chunk/chunkserver/server.js';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { runMds, type MdsHandle } from '../../backends/chunk/mds/server.js';
import { MSG } from '../../backends/chunk/proto/messages.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { TestChunkClient, until } from '../helpers/chunk-cluster.js';

const KiB = 1024;
const CHUNK = 64 * KiB;
const root = mkdtempSync(path.join(os.tmpdir(), 'bg-cs-cluster-'));
const log = pino({ level: process.env.CS_LOG ?? 'silent' });
let mds: MdsHandle;
let mdsClient: MdsClient;
let client: TestChunkClient;
const servers = new Map<string, ChunkserverHandle>();

afterAll(async () => {
  client?.close();
  mdsClient?.close();
  for (const s of servers.values()) await s.close().catch(() => undefined);
  await mds?.close();
  rmSync(root, { recursive: true, force: true });
});

function csOptions(name: string, zone: string): ChunkserverOptions {
  return {
    listen: '127.0.0.1:0', mds: [mds.address], dataDir: path.join(root, name), zone, server: name, capacityBytes: 1 << 30,
    chunkSizeBytes: CHUNK, poolFiles: 2, tickMs: 30, electionTicks: 10, heartbeatMs: 100,
    snapshotEntries: 20, keepLogEntries: 4, segmentBytes: 32 * KiB, pieceBytes: 16 * KiB, promoteLag: 4, log: log.child({ cs: name }),
  };
}

async function start(name: string, zone: string): Promise<ChunkserverHandle> {
  const h = await runChunkserver(csOptions(name, zone));
  servers.set(name, h);
  return h;
}

async function stop(name: string): Promise<void> {
  await servers.get(name)!.close();
  servers.delete(name);
}

const pattern = (chunkId: number, n: number): Buffer => Buffer.alloc(4 * KiB, (chunkId * 31 + n) & 0xff);

/** The leader of a copyset among running servers, once exactly one claims it. */
async function leaderOf(copysetId: number): Promise<ChunkserverHandle> {
  return until(`a leader of copyset ${copysetId}`, 10_000, () => {
    const leaders = [...servers.values()].filter((s) => s.copysets.get(copysetId)?.role === 'leader');
    return leaders.length === 1 ? leaders[0] : undefined;
  });
}

describe('chunkserver cluster (in process)', () => {
  const written = new Map<string, Buffer>(); // "cs/chunk/offset" → data
  let copysetIds: number[] = [];

  it('bootstraps copysets from MDS heartbeats and elects leaders', async () => {
    mds = await runMds({
      listen: '127.0.0.1:0', dataDir: path.join(root, 'mds'), log, tickMs: 50, copysetSettleMs: 300,
      config: { chunkSizeBytes: CHUNK, segmentSizeBytes: 4 * CHUNK, copysetsPerChunkserver: 2, maxCopysetsPerChunkserver: 2, heartbeatTimeoutMs: 1500, opTimeoutMs: 15_000, catchUpLag: 4, leaderBalance: false },
    });
    mdsClient = new MdsClient([mds.address], { callTimeoutMs: 2000 });
    client = new TestChunkClient(mdsClient);
    await start('cs1', 'a');
    await start('cs2', 'b');
    await start('cs3', 'c');
    const status = await until('copysets hosted with leaders', 15_000, async () => {
      const s = await mdsClient.clusterStatus();
      return s.copysets.total > 0 && s.copysets.leaderless === 0 && s.copysets.healthy === s.copysets.total ? s : undefined;
    });
    copysetIds = (await mdsClient.getCopysets([1, 2, 3, 4, 5, 6])).map((c) => c.copysetId);
    expect(copysetIds.length).toBe(status.copysets.total);
    for (const id of copysetIds) expect((await leaderOf(id)).copysets.get(id)!.report().members.sort()).toEqual([1, 2, 3]);
  });

  it('writes through the leader; followers redirect; unknown chunks read as zeroes', async () => {
    const cs = copysetIds[0]!;
    const leader = await leaderOf(cs);
    const follower = [...servers.values()].find((s) => s !== leader)!;
    const res = await client.client(follower.address).callChunk(MSG.WRITE_CHUNK, { copysetId: cs, chunkId: 1, offset: 0, length: 4, seq: 1, data: Buffer.from('nope') });
    expect(res).toMatchObject({ status: STATUS.NOT_LEADER, leaderHintId: leader.chunkserverId, leaderHint: leader.address });
    const none = await client.client(leader.address).callChunk(MSG.READ_CHUNK, { copysetId: 999, chunkId: 1, offset: 0, length: 4, seq: 0 });
    expect(none.status).toBe(STATUS.NO_COPYSET);
    const big = await client.client(leader.address).callChunk(MSG.READ_CHUNK, { copysetId: cs, chunkId: 1, offset: CHUNK - 2, length: 4, seq: 0 });
    expect(big.status).toBe(STATUS.INVALID);
    expect((await client.read(cs, 77, 100, 4 * KiB)).data).toEqual(Buffer.alloc(4 * KiB));
    for (let n = 0; n < 30; n++) {
      const id = copysetIds[n % copysetIds.length]!;
      const chunkId = 100 + (n % 5);
      const offset = (n % 8) * 4 * KiB;
      const data = pattern(chunkId, n);
      expect((await client.write(id, chunkId, offset, data, 3)).status).toBe(STATUS.OK);
      written.set(`${id}/${chunkId}/${offset}`, data);
    }
    for (const [k, data] of written) {
      const [id, chunkId, offset] = k.split('/').map(Number) as [number, number, number];
      expect((await client.read(id, chunkId, offset, data.length)).data).toEqual(data);
    }
    const info = await client.call(MSG.GET_CHUNK_INFO, { copysetId: cs, chunkId: 100, offset: 0, length: 0, seq: 0 });
    expect(info).toMatchObject({ status: STATUS.OK, chunkSeq: 3 });
    expect((await client.call(MSG.DELETE_CHUNK, { copysetId: cs, chunkId: 104, offset: 0, length: 0, seq: 3 })).status).toBe(STATUS.OK);
    expect((await client.call(MSG.GET_CHUNK_INFO, { copysetId: cs, chunkId: 104, offset: 0, length: 0, seq: 0 })).status).toBe(STATUS.CHUNK_NOT_EXIST);
    for (const k of [...written.keys()]) if (k.startsWith(`${cs}/104/`)) written.set(k, Buffer.alloc(4 * KiB));
  });

  it('serves every acknowledged write from a new leader after the old leader stops', async () => {
    const cs = copysetIds[0]!;
    const old = await leaderOf(cs);
    const name = [...servers.entries()].find(([, s]) => s === old)![0];
    await stop(name);
    const fresh = await leaderOf(cs);
    expect(fresh).not.toBe(old);
    for (const [k, data] of written) {
      const [id, chunkId, offset] = k.split('/').map(Number) as [number, number, number];
      expect((await client.read(id, chunkId, offset, data.length)).data).toEqual(data);
    }
    for (let n = 0; n < 30; n++) {
      const data = pattern(200, n);
      const offset = Math.floor(n / 3) * 4 * KiB;
      expect((await client.write(cs, 200 + (n % 3), offset, data, 3)).status).toBe(STATUS.OK);
      written.set(`${cs}/${200 + (n % 3)}/${offset}`, data);
    }
    // restart the stopped member with an empty data dir (it keeps only its id): snapshot + file fetch
    const dir = path.join(root, name);
    for (const sub of ['chunks', 'raft', 'chunkpool']) rmSync(path.join(dir, sub), { recursive: true, force: true });
    const back = await start(name, csZone(name));
    expect(back.chunkserverId).toBe(old.chunkserverId);
    const leader = await leaderOf(cs);
    await until('the emptied member catches up', 15_000, () => {
      const g = back.copysets.get(cs);
      const l = leader.copysets.get(cs)!;
      return g && g.applied >= l.applied && l.applied > 0 ? true : undefined;
    });
    for (const [k, data] of written) {
      const [id, chunkId, offset] = k.split('/').map(Number) as [number, number, number];
      if (id === cs) expect(await back.store.read(id, chunkId, offset, data.length)).toEqual(data);
    }
  });

  it('repairs a copyset whose member died: addPeer (learner, then voter) and removePeer via MDS ops', async () => {
    await stop('cs3');
    const cs4 = await start('cs4', 'c');
    const cs = copysetIds[0]!;
    await until('cs4 replaced cs3 as a voter', 30_000, async () => {
      const leader = [...servers.values()].find((s) => s.copysets.get(cs)?.role === 'leader');
      const members = leader?.copysets.get(cs)!.report().members ?? [];
      const [info] = await mdsClient.getCopysets([cs]);
      const mdsMembers = info!.members.map((m) => m.id).sort();
      return members.includes(cs4.chunkserverId) && !members.includes(3) && mdsMembers.join() === [1, 2, cs4.chunkserverId].join() ? true : undefined;
    }, 100);
    const g = cs4.copysets.get(cs)!;
    for (const [k, data] of written) {
      const [id, chunkId, offset] = k.split('/').map(Number) as [number, number, number];
      if (id !== cs) continue;
      expect((await client.read(id, chunkId, offset, data.length)).data).toEqual(data);
      await until('cs4 applied the data', 5000, async () => ((await cs4.store.read(id, chunkId, offset, data.length)).equals(data) ? true : undefined));
    }
    expect(g.report().members.sort()).toEqual([1, 2, cs4.chunkserverId].sort());
  });
});

function csZone(name: string): string {
  return { cs1: 'a', cs2: 'b', cs3: 'c', cs4: 'c' }[name] ?? 'a';
}
