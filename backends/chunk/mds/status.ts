/** Cluster status (CLUSTER_STATUS and the MDS metrics): computed from the active MDS's state. */
import type { ChunkserverStatus, ClusterStatusResponse } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import type { MdsCore } from './core.js';

export function clusterStatus(core: MdsCore, now: number, isLeader: boolean, address = ''): ClusterStatusResponse {
  const copysetCount = new Map<number, number>();
  const leaderCount = new Map<number, number>();
  let healthy = 0;
  let leaderless = 0;
  for (const cs of core.copysets.values()) {
    for (const m of cs.members) copysetCount.set(m, (copysetCount.get(m) ?? 0) + 1);
    const leader = core.live.get(cs.id)?.leaderId ?? 0;
    if (leader === 0 || !core.isUp(leader, now)) leaderless++;
    else leaderCount.set(leader, (leaderCount.get(leader) ?? 0) + 1);
    if (cs.members.length === core.config.replicas && cs.members.every((m) => core.isUp(m, now))) healthy++;
  }
  const chunkservers: ChunkserverStatus[] = [...core.chunkservers.values()]
    .sort((a, b) => a.id - b.id)
    .map((c) => ({
      id: c.id,
      zone: c.zone,
      server: c.server,
      address: c.address,
      state: core.isUp(c.id, now) ? 'up' : 'down',
      copysets: copysetCount.get(c.id) ?? 0,
      leaders: leaderCount.get(c.id) ?? 0,
      capacityBytes: core.usage.get(c.id)?.capacityBytes ?? c.capacityBytes,
      usedBytes: core.usage.get(c.id)?.usedBytes ?? 0,
    }));
  return {
    status: STATUS.OK,
    mds: { address, isLeader },
    chunkservers,
    copysets: { total: core.copysets.size, healthy, degraded: core.copysets.size - healthy, leaderless },
    volumes: core.volumes.size,
    pendingOps: core.pending.length,
  };
}
