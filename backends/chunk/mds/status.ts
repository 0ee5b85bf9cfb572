/** Cluster status (CLUSTER_STATUS and the MDS metrics): computed from the active MDS's state. */
import type { ChunkserverStatus, ClusterStatusResponse, CopysetState, CopysetStatus } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import type { MdsCore } from './core.js';
import type { CopysetRecord } from './types.js';

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
    copysetList: [...core.copysets.values()].sort((a, b) => a.id - b.id).map((cs) => copysetStatus(core, cs, now)),
    volumes: core.volumes.size,
    pendingOps: core.pending.length,
  };
}

function copysetStatus(core: MdsCore, cs: CopysetRecord, now: number): CopysetStatus {
  const live = core.live.get(cs.id);
  const leaderId = live?.leaderId ?? 0;
  const repairing = core.pending.some((op) => op.copysetId === cs.id && op.kind !== 'transferLeader');
  const up = (id: number): boolean => core.isUp(id, now);
  return {
    copysetId: cs.id,
    members: [...cs.members],
    leaderId,
    term: Math.max(live?.term ?? 0, cs.term),
    state: copysetState(cs.members, leaderId, up, core.config.replicas, repairing),
  };
}

/** The precedence of ClusterStatusResponse.copysetList states (proto/mds-api.ts). Pure. */
export function copysetState(members: readonly number[], leaderId: number, up: (id: number) => boolean, replicas: number, repairing: boolean): CopysetState {
  if (leaderId === 0 || !up(leaderId)) return 'leaderless';
  if (repairing || members.length > replicas) return 'recovering';
  if (members.length < replicas || !members.every(up)) return 'degraded';
  return 'healthy';
}
