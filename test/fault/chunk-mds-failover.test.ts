/**
 * Acceptance (issue #5, item 2): two MDS processes sharing etcd (leader
 * election through an etcd lease), three chunkservers, the daemon with a
 * chunk LUN given both MDS addresses (`bsopts mds=a,b`), and a verifying
 * NBD workload. The active MDS is killed with SIGKILL; right after, the
 * workload widens to segments never allocated, so the client needs an MDS
 * (GET_SEGMENT with allocate) while the standby takes over. No request may
 * fail and every acknowledged write must read back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { until } from '../helpers/chunk-cluster.js';
import { ChunkProcs, MiB, startChunkLun, startCluster, waitHealthy } from '../helpers/chunk-faults.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';
import { NbdWorkload } from '../helpers/nbd-workload.js';

const c = new ChunkProcs();
let etcd: EtcdHandle | undefined;
let mds: string[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  // 1 MiB segments: each widening step of the workload needs new allocations.
  mds = await startCluster(c, { etcd: etcd.endpoint, mdsCount: 2, zones: ['a', 'b', 'c'], chunkSizeBytes: MiB, segmentSizeBytes: MiB });
  await startChunkLun(c, { mds, volume: 'vol1', sizeBytes: 32 * MiB, bsopts: 'timeout=60;rpc_timeout=1000' });
}, 90_000);

afterAll(async () => {
  await c.cleanup();
  await etcd?.stop();
});

async function activeMds(): Promise<string | undefined> {
  for (const addr of mds) {
    const admin = new MdsClient([addr], { callTimeoutMs: 1000, maxAttempts: 1 });
    const s = await admin.clusterStatus().catch(() => undefined);
    admin.close();
    if (s?.mds.isLeader) return addr;
  }
  return undefined;
}

describe('kill -9 of the active MDS under a verifying NBD workload', () => {
  it('the standby takes over, the client follows it, and nothing fails or is lost', async () => {
    const active = await until('an active MDS', 10_000, activeMds, 200);
    const victim = mds.indexOf(active) === 0 ? 'mds1' : 'mds2';
    const standby = mds.find((a) => a !== active)!;
    const w = await NbdWorkload.connect({ port: c.daemon!.nbdPort!, exportName: 'vol1', spanBytes: 8 * MiB, blockBytes: 64 * 1024, depth: 8, seed: 22 });
    try {
      w.start();
      // A readiness wait, not a measurement: generous for a loaded CI host.
      await until('the workload running', 60_000, () => (w.stats.writes >= 100 ? true : undefined));
      const killedAt = await c.kill(victim);
      w.setSpan(32 * MiB); // 24 segments never allocated: their first writes need the MDS
      const newActive = await until('the standby to become active', 20_000, async () => ((await activeMds()) === standby ? standby : undefined), 100);
      const takeoverMs = Date.now() - killedAt;
      const doneAtTakeover = w.done;
      await until('writes acknowledged after the takeover', 30_000, () => (w.done >= doneAtTakeover + 300 ? true : undefined), 100);
      const pauseMs = w.maxLatencySince(killedAt);
      await w.stop();
      expect(newActive).toBe(standby);
      expect(w.stats.errors).toEqual([]);
      expect(w.stats.mismatches).toEqual([]);
      const v = await w.verifyAll();
      expect(v.checked).toBe(512);
      expect(v.mismatches).toEqual([]);
      const admin = new MdsClient([standby], { callTimeoutMs: 2000 });
      const segs = await Promise.all(Array.from({ length: 32 }, (_, i) => admin.getSegment({ name: 'vol1', offsetBytes: i * MiB, allocate: false })));
      admin.close();
      // Segments the workload wrote after the kill were allocated by the new active MDS.
      const written = new Set([...w.acked.keys()].map((b) => Math.floor(b / 16)));
      expect([...written].filter((s) => s >= 8).length).toBeGreaterThan(0);
      for (const s of written) expect(segs[s], `segment ${s}`).not.toBeNull();
      await waitHealthy([standby], 20_000);
      console.log(`mds failover: standby active ${takeoverMs} ms after the kill; max request latency after the kill ${pauseMs} ms; ` +
        `${w.stats.writes} writes, ${w.stats.reads} reads, ${written.size} segments written`);
    } finally {
      w.close();
    }
  }, 180_000);
});
