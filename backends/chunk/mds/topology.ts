/**
 * Topology of the active MDS: one logical pool; zones and servers are named
 * by the chunkservers when they register; copysets are placed by
 * placement.ts. Also the copyset queries clients use to find leaders.
 */
import type { CopysetInfo, GetCopysetsResponse, MdsResponse, RegisterChunkserverResponse } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import type { MdsCore } from './core.js';
import { planCopysets, targetCopysetCount } from './placement.js';
import { KEYS, putJson, type KvOp } from './store.js';
import type { ChunkserverRecord, CopysetRecord } from './types.js';

/** Keep each commit under etcd's default txn limit (128 ops). */
const COPYSETS_PER_COMMIT = 100;

const str = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

export async function registerChunkserver(core: MdsCore, req: Record<string, unknown>, now: number): Promise<RegisterChunkserverResponse | MdsResponse> {
  const { zone, server, address, capacityBytes, chunkserverId } = req;
  if (!str(zone, 64) || !str(server) || !str(address)) return { status: STATUS.INVALID, message: 'zone, server and address required' };
  const capacity = typeof capacityBytes === 'number' && Number.isSafeInteger(capacityBytes) && capacityBytes >= 0 ? capacityBytes : 0;
  return core.mutate<RegisterChunkserverResponse | MdsResponse>(() => {
    const known =
      typeof chunkserverId === 'number' ? core.chunkservers.get(chunkserverId) : [...core.chunkservers.values()].find((c) => c.address === address);
    if (typeof chunkserverId === 'number' && !known) return { ops: [], apply: () => ({ status: STATUS.NOT_FOUND, message: `unknown chunkserver ${chunkserverId}` }) };
    if (known && known.zone !== zone) return { ops: [], apply: () => ({ status: STATUS.INVALID, message: `chunkserver ${known.id} is in zone ${known.zone}` }) };
    const id = known?.id ?? core.counters.nextChunkserverId;
    const rec: ChunkserverRecord = { id, zone, server, address, capacityBytes: capacity };
    const counters = known ? core.counters : { ...core.counters, nextChunkserverId: id + 1 };
    return {
      ops: [putJson(KEYS.chunkserver(id), rec), core.countersOp(counters)],
      apply: () => {
        core.counters = counters;
        core.chunkservers.set(id, rec);
        core.lastSeen.set(id, now);
        if (!known) core.lastRegistrationAt = now;
        core.log?.info({ chunkserver: id, zone, address }, 'chunkserver registered');
        return { status: STATUS.OK, chunkserverId: id };
      },
    };
  });
}

/**
 * Create copysets until the cluster has `copysetsPerChunkserver` per up
 * chunkserver on average (bounded per chunkserver). Returns how many were made.
 */
export async function ensureCopysets(core: MdsCore, now: number): Promise<number> {
  let made = 0;
  for (;;) {
    const n = await core.mutate(() => planBatch(core, now));
    made += n;
    if (n < COPYSETS_PER_COMMIT) return made;
  }
}

function planBatch(core: MdsCore, now: number): { ops: KvOp[]; apply: () => number } {
  const nodes = [...core.chunkservers.values()].filter((c) => core.isUp(c.id, now)).map((c) => ({ id: c.id, zone: c.zone }));
  const want = targetCopysetCount(nodes.length, core.config.copysetsPerChunkserver, core.config.replicas) - core.copysets.size;
  if (want <= 0) return { ops: [], apply: () => 0 };
  const existing = [...core.copysets.values()].map((c) => c.members);
  const plans = planCopysets(
    { nodes, existing, maxPerChunkserver: core.config.maxCopysetsPerChunkserver, replicas: core.config.replicas },
    Math.min(want, COPYSETS_PER_COMMIT),
  );
  let next = core.counters.nextCopysetId;
  const recs: CopysetRecord[] = plans.map((members) => ({ id: next++, members, term: 0 }));
  const counters = { ...core.counters, nextCopysetId: next };
  return {
    ops: [...recs.map((r) => putJson(KEYS.copyset(r.id), r)), core.countersOp(counters)],
    apply: () => {
      core.counters = counters;
      for (const r of recs) core.copysets.set(r.id, r);
      if (recs.length > 0) core.log?.info({ count: recs.length, total: core.copysets.size }, 'copysets created');
      return recs.length;
    },
  };
}

export function copysetInfo(core: MdsCore, rec: CopysetRecord): CopysetInfo {
  const live = core.live.get(rec.id);
  return {
    copysetId: rec.id,
    members: rec.members.map((m) => core.peerAddr(m)),
    leaderId: live?.leaderId ?? 0,
    term: Math.max(live?.term ?? 0, rec.term),
  };
}

export function getCopysets(core: MdsCore, req: Record<string, unknown>): GetCopysetsResponse | MdsResponse {
  const ids = req.copysetIds;
  if (!Array.isArray(ids) || ids.length > 4096 || !ids.every((i) => Number.isInteger(i))) return { status: STATUS.INVALID, message: 'copysetIds: array of ids' };
  const copysets: CopysetInfo[] = [];
  for (const id of ids as number[]) {
    const rec = core.copysets.get(id);
    if (rec) copysets.push(copysetInfo(core, rec));
  }
  return { status: STATUS.OK, copysets };
}
