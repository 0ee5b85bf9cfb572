/**
 * Acceptance (issue #5, item 3): a chunkserver that stays down is
 * replaced without admin action. An MDS and three chunkservers in zones
 * a/b/c, then a spare in zone c (the only zone a replacement for the
 * zone-c member can come from). The zone-c member is killed for good
 * under a verifying NBD workload; the MDS declares it down after its
 * heartbeat timeout, adds the spare to each of its copysets (learner,
 * promoted once caught up, by snapshot when the log was compacted), then
 * removes the dead member. Every copyset returns to three up members,
 * the spare has caught up with every leader, and the data verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { until } from '../helpers/chunk-cluster.js';
import { chunkserverOpts, ChunkProcs, CS_MAIN, MiB, startChunkLun, startCluster, waitCaughtUp, waitHealthy } from '../helpers/chunk-faults.js';
import { NbdWorkload } from '../helpers/nbd-workload.js';

const c = new ChunkProcs();
const CS = ['cs1', 'cs2', 'cs3', 'cs4'];
let mds: string[] = [];
const LOG = { snapshotEntries: 30, keepLogEntries: 5 };

beforeAll(async () => {
  mds = await startCluster(c, {
    zones: ['a', 'b', 'c'], chunkSizeBytes: MiB, segmentSizeBytes: 4 * MiB,
    mdsConfig: { heartbeatTimeoutMs: 2500, opTimeoutMs: 20_000, catchUpLag: 8 },
    chunkserver: LOG, // a short log: the spare catches up by snapshot (chunk files fetched from a member)
  });
  await startChunkLun(c, { mds, volume: 'vol1', sizeBytes: 16 * MiB, bsopts: 'timeout=60;rpc_timeout=1000' });
  await c.start('cs4', CS_MAIN, await chunkserverOpts(c, { index: 4, zone: 'c', mds, chunkSizeBytes: MiB, extra: LOG }));
  // The spare's registration makes the MDS create copysets for it too (after copysetSettleMs).
  const admin = new MdsClient(mds, { callTimeoutMs: 2000 });
  await until('copysets on the spare', 30_000, async () => ((await admin.clusterStatus()).chunkservers.find((x) => x.zone === 'c' && x.address === c.procs.get('cs4')!.address)?.copysets ?? 0) > 0 ? true : undefined, 200).finally(() => admin.close());
  await waitHealthy(mds, 30_000, 'a healthy cluster with the spare');
}, 90_000);

afterAll(async () => {
  await c.cleanup();
});

describe('a chunkserver that stays down', () => {
  it('is replaced in every copyset by the spare, and the data verifies', async () => {
    const admin = new MdsClient(mds, { callTimeoutMs: 2000 });
    const w = await NbdWorkload.connect({ port: c.daemon!.nbdPort!, exportName: 'vol1', spanBytes: 16 * MiB, blockBytes: 64 * 1024, depth: 6, seed: 33 });
    try {
      const before = await admin.clusterStatus();
      const dead = before.chunkservers.find((s) => s.address === c.procs.get('cs3')!.address)!;
      const spare = before.chunkservers.find((s) => s.address === c.procs.get('cs4')!.address)!;
      expect(dead.copysets).toBeGreaterThan(0);
      w.start();
      // A readiness wait, not a measurement: generous for a loaded CI host.
      await until('the workload running', 60_000, () => (w.stats.writes >= 150 ? true : undefined));
      const killedAt = await c.kill('cs3');
      const repaired = await until('every copyset back to three up members', 60_000, async () => {
        const s = await admin.clusterStatus();
        const d = s.chunkservers.find((x) => x.id === dead.id)!;
        return d.state === 'down' && d.copysets === 0 && s.copysets.healthy === s.copysets.total && s.copysets.leaderless === 0 && s.pendingOps === 0 ? s : undefined;
      }, 250);
      const repairMs = Date.now() - killedAt;
      await w.stop();
      expect(w.stats.errors).toEqual([]);
      expect(w.stats.mismatches).toEqual([]);
      expect((await w.verifyAll()).mismatches).toEqual([]);
      expect(repaired.chunkservers.find((x) => x.id === spare.id)!.copysets).toBe(spare.copysets + dead.copysets);
      const caught = await waitCaughtUp(c, 'cs4', CS, 30_000);
      expect(caught.size).toBe(spare.copysets + dead.copysets);
      expect(c.logOf('cs4')).toContain('snapshot installed');
      console.log(`replacement: ${dead.copysets} copysets of chunkserver ${dead.id} moved to ${spare.id} ${repairMs} ms after the kill ` +
        `(heartbeat timeout 2500 ms); max request latency ${w.maxLatencySince(killedAt)} ms; ${w.stats.writes} writes; ` +
        `slowest [start after the kill, ms]: ${JSON.stringify(w.slowestSince(killedAt))}`);
    } finally {
      w.close();
      admin.close();
    }
  }, 180_000);
});
