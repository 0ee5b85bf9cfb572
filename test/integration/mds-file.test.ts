import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MdsClient, MdsError } from '../../backends/chunk/mds/admin-client.js';
import { runMds, type MdsHandle } from '../../backends/chunk/mds/server.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { FakeCluster } from '../helpers/fake-chunkservers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-mds-file-'));
const log = pino({ level: 'silent' });
const KiB = 1024;
const start = (): Promise<MdsHandle> =>
  runMds({
    listen: '127.0.0.1:0', dataDir: dir, log, tickMs: 30, copysetSettleMs: 500, metricsListen: '127.0.0.1:0',
    config: { segmentSizeBytes: 64 * KiB, chunkSizeBytes: 16 * KiB, copysetsPerChunkserver: 2, maxCopysetsPerChunkserver: 4, heartbeatTimeoutMs: 1500, opTimeoutMs: 3000, catchUpLag: 2 },
  });
const handles: MdsHandle[] = [];
const clients: MdsClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const h of handles) await h.close();
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MDS with a FileStore (single MDS)', () => {
  let mds: MdsHandle;
  let client: MdsClient;
  let cluster: FakeCluster;

  it('registers chunkservers, creates copysets in three zones, and serves volumes', async () => {
    mds = await start();
    handles.push(mds);
    client = new MdsClient([mds.address], { callTimeoutMs: 2000 });
    clients.push(client);
    cluster = new FakeCluster(client);
    await cluster.register(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(cluster.ids).toEqual([1, 2, 3, 4, 5, 6]);
    const vol = await client.createVolume({ name: 'vol1', sizeBytes: 256 * KiB });
    expect(vol).toMatchObject({ name: 'vol1', sizeBytes: 256 * KiB, segmentSizeBytes: 64 * KiB, chunkSizeBytes: 16 * KiB, seq: 1, allocatedSegments: 0 });
    await expect(client.createVolume({ name: 'vol1', sizeBytes: 4096 })).rejects.toMatchObject({ status: STATUS.EXISTS });
    await expect(client.createVolume({ name: 'bad', sizeBytes: 1000 })).rejects.toMatchObject({ status: STATUS.INVALID });
    expect(await client.getSegment({ name: 'vol1', offsetBytes: 70 * KiB, allocate: false })).toBeNull();
    const seg = await client.getSegment({ name: 'vol1', offsetBytes: 70 * KiB, allocate: true });
    expect(seg).toMatchObject({ index: 1, offsetBytes: 64 * KiB, lengthBytes: 64 * KiB, chunkSizeBytes: 16 * KiB });
    expect(seg!.chunks).toHaveLength(4);
    expect(await client.getSegment({ name: 'vol1', offsetBytes: 64 * KiB, allocate: true })).toEqual(seg);
    await expect(client.getSegment({ name: 'vol1', offsetBytes: 256 * KiB, allocate: true })).rejects.toMatchObject({ status: STATUS.INVALID });
    const copysets = await client.getCopysets([...new Set(seg!.chunks.map((c) => c.copysetId))]);
    expect(copysets.length).toBeGreaterThan(1);
    for (const cs of copysets) expect(new Set(cs.members.map((m) => m.zone)).size).toBe(3);
    const status = await client.clusterStatus();
    expect(status.copysets.total).toBe(4);
    expect(status.copysetList.map((c) => c.copysetId)).toEqual([1, 2, 3, 4]);
    for (const c of status.copysetList) expect(c.members).toHaveLength(3);
    expect(Math.max(...status.chunkservers.map((c) => c.copysets))).toBeLessThanOrEqual(4);
  });

  it('hands copysets to chunkservers by heartbeat and repairs one whose member died', async () => {
    await cluster.beatAll();
    await cluster.beatAll();
    expect([...cluster.groups.keys()].sort()).toEqual([1, 2, 3, 4]);
    const victim = [...cluster.groups.values()][0]!.members.find((m) => m !== [...cluster.groups.values()][0]!.leader)!;
    cluster.dead.add(victim);
    const deadline = Date.now() + 20_000;
    let healed = false;
    const seen = new Set<string>(); // states of copysets that had the victim as a member
    while (!healed && Date.now() < deadline) {
      await cluster.beatAll();
      await sleep(40);
      const s = await client.clusterStatus();
      for (const cs of s.copysetList) if (cs.members.includes(victim)) seen.add(cs.state);
      healed = s.copysets.healthy === s.copysets.total && s.chunkservers.find((c) => c.id === victim)!.copysets === 0;
    }
    expect(healed).toBe(true);
    // The per-copyset list showed the repair under way (replacement added, old member not yet removed).
    expect(seen.has('recovering')).toBe(true);
    const after = await client.clusterStatus();
    expect(after.copysetList.map((c) => [c.copysetId, c.state, c.members.length])).toEqual([1, 2, 3, 4].map((id) => [id, 'healthy', 3]));
    expect(after.copysetList.every((c) => c.leaderId > 0 && c.term > 0 && !c.members.includes(victim))).toBe(true);
    for (const g of cluster.groups.values()) {
      expect(g.members).not.toContain(victim);
      expect(g.members).toHaveLength(3);
    }
    const infos = await client.getCopysets([1, 2, 3, 4]);
    for (const cs of infos) expect(new Set(cs.members.map((m) => m.zone)).size).toBe(3);
  });

  it('exposes metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${mds.metricsPort}/metrics`)).text();
    expect(text).toMatch(/blockgate_mds_is_leader 1/);
    expect(text).toMatch(/blockgate_mds_volumes 1/);
    expect(text).toMatch(/blockgate_mds_copysets\{state="healthy"\} 4/);
  });

  it('keeps its state across a restart, and extends, lists and deletes volumes', async () => {
    await mds.close();
    handles.pop();
    client.close();
    mds = await start();
    handles.push(mds);
    client = new MdsClient([mds.address], { callTimeoutMs: 2000 });
    clients.push(client);
    expect(await client.getVolume('vol1')).toMatchObject({ allocatedSegments: 1 });
    expect(await client.getSegment({ name: 'vol1', offsetBytes: 64 * KiB, allocate: false })).not.toBeNull();
    expect((await client.extendVolume({ name: 'vol1', sizeBytes: 512 * KiB })).sizeBytes).toBe(512 * KiB);
    await expect(client.extendVolume({ name: 'vol1', sizeBytes: 4096 })).rejects.toMatchObject({ status: STATUS.INVALID });
    await client.createVolume({ name: 'vol0', sizeBytes: 4096 });
    expect((await client.listVolumes()).map((v) => v.name)).toEqual(['vol0', 'vol1']);
    await client.deleteVolume('vol1');
    await expect(client.getVolume('vol1')).rejects.toBeInstanceOf(MdsError);
    expect((await client.clusterStatus()).copysets.total).toBe(4);
  });
});
