/**
 * Chunkserver heartbeats (Curve style): a chunkserver reports its disk usage
 * and, per copyset it hosts, leader/term/members/applied index. The MDS
 * folds the reports into its copyset view and answers with
 *  - `ops`: pending scheduler ops for copysets the reporter leads;
 *  - `create`: copysets the reporter should host but did not report;
 *  - `remove`: copysets it reported but is no longer a member of.
 * Membership is authoritative only from a leader whose term is not older
 * than the last one recorded (a deposed leader cannot roll members back).
 */
import type { CopysetAssignment, CopysetOp, CopysetReport, HeartbeatResponse, MdsResponse } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import type { MdsCore } from './core.js';
import { step } from './scheduler.js';
import { KEYS, putJson } from './store.js';
import type { CopysetRecord } from './types.js';

function validReport(r: unknown): r is CopysetReport {
  const x = r as CopysetReport;
  return (
    typeof x === 'object' && x !== null &&
    Number.isInteger(x.copysetId) && Number.isInteger(x.leaderId) && Number.isInteger(x.term) &&
    Number.isInteger(x.appliedIndex) && Array.isArray(x.members) && x.members.every((m) => Number.isInteger(m))
  );
}

export async function heartbeat(core: MdsCore, req: Record<string, unknown>, now: number): Promise<HeartbeatResponse | MdsResponse> {
  const id = req.chunkserverId;
  const reports = req.copysets;
  if (typeof id !== 'number' || !Array.isArray(reports) || !reports.every(validReport)) return { status: STATUS.INVALID, message: 'bad heartbeat' };
  const cs = core.chunkservers.get(id);
  if (!cs) return { status: STATUS.NOT_FOUND, message: `unknown chunkserver ${id}: register again` };
  core.noteHeartbeat(id, now);
  core.usage.set(id, { capacityBytes: num(req.capacityBytes), usedBytes: num(req.usedBytes) });
  core.hosted.set(id, new Set(reports.map((r) => r.copysetId)));
  const changed: CopysetRecord[] = [];
  for (const r of reports) {
    const rec = core.copysets.get(r.copysetId);
    if (!rec) continue;
    core.liveOf(r.copysetId).peerApplied.set(id, r.appliedIndex);
    if (r.leaderId === id) {
      const next = foldLeaderReport(core, rec, r);
      if (next) changed.push(next);
    }
  }
  if (changed.length > 0) await persistCopysets(core, changed);
  return buildReply(core, id, reports);
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** Update the live view from a leader report; returns a new record when members/term must be persisted. */
function foldLeaderReport(core: MdsCore, rec: CopysetRecord, r: CopysetReport): CopysetRecord | undefined {
  if (r.term < rec.term) return undefined;
  const live = core.liveOf(rec.id);
  if (r.term >= live.term) {
    live.leaderId = r.leaderId;
    live.term = r.term;
    live.appliedIndex = r.appliedIndex;
  }
  const members = [...new Set(r.members)].sort((a, b) => a - b);
  const same = members.length === rec.members.length && members.every((m, i) => m === rec.members[i]);
  if (same && r.term === rec.term) return undefined;
  if (members.length === 0 || !members.every((m) => core.chunkservers.has(m))) return undefined;
  return { id: rec.id, members, term: r.term };
}

async function persistCopysets(core: MdsCore, recs: CopysetRecord[]): Promise<void> {
  await core.mutate(() => ({
    ops: recs.map((r) => putJson(KEYS.copyset(r.id), r)),
    apply: () => {
      for (const r of recs) {
        const old = core.copysets.get(r.id);
        if (old && old.members.join() !== r.members.join()) core.log?.info({ copyset: r.id, members: r.members, term: r.term }, 'copyset members changed');
        core.copysets.set(r.id, r);
      }
    },
  }));
}

function buildReply(core: MdsCore, id: number, reports: CopysetReport[]): HeartbeatResponse {
  const reported = new Set(reports.map((r) => r.copysetId));
  const ops: CopysetOp[] = core.pending
    .filter((op) => core.live.get(op.copysetId)?.leaderId === id)
    .map((op) => ({ copysetId: op.copysetId, kind: op.kind, peer: core.peerAddr(op.peer) }));
  const create: CopysetAssignment[] = [];
  for (const rec of core.copysets.values()) {
    if (reported.has(rec.id) || !rec.members.includes(id)) continue;
    create.push({ copysetId: rec.id, members: rec.members.map((m) => core.peerAddr(m)), join: rec.term > 0 });
  }
  for (const op of core.pending) {
    if (op.kind !== 'addPeer' || op.peer !== id || reported.has(op.copysetId)) continue;
    const rec = core.copysets.get(op.copysetId);
    if (rec && !rec.members.includes(id)) create.push({ copysetId: rec.id, members: [...rec.members, id].map((m) => core.peerAddr(m)), join: true });
  }
  const adding = new Set(core.pending.filter((op) => op.kind === 'addPeer' && op.peer === id).map((op) => op.copysetId));
  const remove = reports
    .map((r) => r.copysetId)
    .filter((c) => !adding.has(c) && !(core.copysets.get(c)?.members.includes(id) ?? false));
  return { status: STATUS.OK, ops, create, remove };
}

/** One scheduler round: drop finished ops, queue new ones. Returns the ops started. */
export function scheduleTick(core: MdsCore, now: number): number {
  const nodes = [...core.chunkservers.values()].map((c) => ({ id: c.id, zone: c.zone, up: core.isUp(c.id, now), fresh: core.isFresh(c.id, now) }));
  const copysets = [...core.copysets.values()].map((c) => ({ id: c.id, members: c.members, live: core.live.get(c.id) }));
  const res = step({ now, config: core.config, nodes, copysets, pending: core.pending });
  const gone = new Set(res.finished.map((f) => f.op));
  for (const f of res.finished) core.log?.info({ copyset: f.op.copysetId, op: f.op.kind, peer: f.op.peer, outcome: f.outcome }, 'copyset op finished');
  for (const op of res.start) core.log?.info({ copyset: op.copysetId, op: op.kind, peer: op.peer }, 'copyset op scheduled');
  core.pending = [...core.pending.filter((op) => !gone.has(op)), ...res.start];
  return res.start.length;
}
