/**
 * Copyset scheduler (pure): `step(view) → decisions`. Time is an input.
 *
 * Repair (Curve's copyset scheduler, design.md §3): a copyset with a member
 * that stopped heartbeating gets, one op at a time, through its leader:
 *   1. addPeer(X): X up, not a member, in a zone no surviving member uses;
 *   2. wait until X's applied index is within `catchUpLag` of the leader's;
 *   3. removePeer(dead).
 * A copyset left with more than `replicas` live members (the dead one came
 * back) sheds one whose removal keeps the zones distinct.
 * Leader balance: when nothing is being repaired, leadership moves from the
 * chunkservers leading the most copysets to those leading the fewest.
 */
import type { CopysetOpKind } from '../proto/mds-api.js';
import { loadOf, pickReplacement, type PlacementNode } from './placement.js';
import type { CopysetLive, MdsConfig, PendingOp } from './types.js';

export interface NodeView extends PlacementNode {
  up: boolean;
  /**
   * Heard from within a few of its own heartbeat periods (absent = same as
   * `up`). `up` lasts heartbeatTimeoutMs after the last heartbeat, so a
   * chunkserver killed a moment ago is still up; leadership must not be
   * moved to it (its new leader would refuse writes while the transfer
   * runs, and clients would be sent to a dead server).
   */
  fresh?: boolean;
}

export interface CopysetView {
  id: number;
  members: readonly number[];
  live: CopysetLive | undefined;
}

export interface SchedulerView {
  now: number;
  config: Pick<MdsConfig, 'replicas' | 'maxCopysetsPerChunkserver' | 'opTimeoutMs' | 'catchUpLag' | 'leaderBalance'>;
  nodes: readonly NodeView[];
  copysets: readonly CopysetView[];
  pending: readonly PendingOp[];
}

export type OpOutcome = 'done' | 'timeout' | 'obsolete';

export interface SchedulerResult {
  /** New ops to hand to copyset leaders. */
  start: PendingOp[];
  /** Pending ops to forget, and why. */
  finished: Array<{ op: PendingOp; outcome: OpOutcome }>;
}

export function step(view: SchedulerView): SchedulerResult {
  const nodes = new Map(view.nodes.map((n) => [n.id, n]));
  const copysets = new Map(view.copysets.map((c) => [c.id, c]));
  const finished: SchedulerResult['finished'] = [];
  const busy = new Set<number>();
  const stillPending: PendingOp[] = [];
  for (const op of view.pending) {
    const outcome = judge(op, copysets.get(op.copysetId), nodes, view);
    if (outcome) finished.push({ op, outcome });
    else {
      busy.add(op.copysetId);
      stillPending.push(op);
    }
  }
  const load = loadOf(view.copysets.map((c) => c.members));
  for (const op of stillPending) if (op.kind === 'addPeer') load.set(op.peer, (load.get(op.peer) ?? 0) + 1);
  const start: PendingOp[] = [];
  for (const cs of view.copysets) {
    if (busy.has(cs.id)) continue;
    const op = repairOp(cs, nodes, load, view);
    if (!op) continue;
    start.push(op);
    if (op.kind === 'addPeer') load.set(op.peer, (load.get(op.peer) ?? 0) + 1);
  }
  if (start.length === 0 && stillPending.length === 0 && view.config.leaderBalance) start.push(...balanceLeaders(view, nodes));
  return { start, finished };
}

function isUp(nodes: Map<number, NodeView>, id: number): boolean {
  return nodes.get(id)?.up === true;
}

function isFresh(nodes: Map<number, NodeView>, id: number): boolean {
  const n = nodes.get(id);
  return n?.up === true && n.fresh !== false;
}

function judge(op: PendingOp, cs: CopysetView | undefined, nodes: Map<number, NodeView>, view: SchedulerView): OpOutcome | undefined {
  if (!cs) return 'obsolete';
  const member = cs.members.includes(op.peer);
  if (op.kind === 'addPeer' && member) return 'done';
  if (op.kind === 'removePeer' && !member) return 'done';
  if (op.kind === 'transferLeader' && cs.live?.leaderId === op.peer) return 'done';
  if (op.kind !== 'removePeer' && !isUp(nodes, op.peer)) return 'obsolete';
  if (op.kind === 'transferLeader' && !isFresh(nodes, op.peer)) return 'obsolete';
  if (op.kind === 'transferLeader' && !member) return 'obsolete';
  return view.now - op.issuedAt > view.config.opTimeoutMs ? 'timeout' : undefined;
}

/** The leader must be known, up and a member: ops are executed by it. */
function liveLeader(cs: CopysetView, nodes: Map<number, NodeView>): number | undefined {
  const l = cs.live?.leaderId ?? 0;
  return l !== 0 && cs.members.includes(l) && isUp(nodes, l) ? l : undefined;
}

function op(cs: CopysetView, kind: CopysetOpKind, peer: number, now: number): PendingOp {
  return { copysetId: cs.id, kind, peer, issuedAt: now };
}

function repairOp(cs: CopysetView, nodes: Map<number, NodeView>, load: Map<number, number>, view: SchedulerView): PendingOp | undefined {
  const leader = liveLeader(cs, nodes);
  if (leader === undefined) return undefined;
  const upMembers = cs.members.filter((m) => isUp(nodes, m));
  const dead = cs.members.filter((m) => !isUp(nodes, m));
  const { replicas } = view.config;
  if (dead.length > 0 && upMembers.length < replicas) {
    const keep = upMembers.map((m) => nodes.get(m)!);
    const candidates = view.nodes.filter((n) => n.up);
    const x = pickReplacement(candidates, keep, new Set(cs.members), load, view.config.maxCopysetsPerChunkserver);
    return x ? op(cs, 'addPeer', x.id, view.now) : undefined;
  }
  if (dead.length > 0) {
    // Enough live members: remove the dead one once every live member has caught up.
    return allCaughtUp(cs, upMembers, view.config.catchUpLag) ? op(cs, 'removePeer', dead[0]!, view.now) : undefined;
  }
  if (cs.members.length > replicas) {
    const victim = shedCandidate(cs, leader, nodes);
    return victim !== undefined ? op(cs, 'removePeer', victim, view.now) : undefined;
  }
  return undefined;
}

function allCaughtUp(cs: CopysetView, members: readonly number[], lag: number): boolean {
  const live = cs.live;
  if (!live) return false;
  return members.every((m) => {
    const applied = m === live.leaderId ? live.appliedIndex : live.peerApplied.get(m);
    return applied !== undefined && applied + lag >= live.appliedIndex;
  });
}

/** A non-leader member whose removal leaves the others in distinct zones (highest id first: the newest stays). */
function shedCandidate(cs: CopysetView, leader: number, nodes: Map<number, NodeView>): number | undefined {
  const zoneCount = new Map<string, number>();
  for (const m of cs.members) zoneCount.set(nodes.get(m)!.zone, (zoneCount.get(nodes.get(m)!.zone) ?? 0) + 1);
  const dupZone = cs.members.filter((m) => m !== leader && zoneCount.get(nodes.get(m)!.zone)! > 1);
  const pool = dupZone.length > 0 ? dupZone : cs.members.filter((m) => m !== leader);
  return pool.sort((a, b) => a - b)[0];
}

/**
 * Transfer ops moving leadership from the most- to the least-leading
 * chunkservers; only when every member of every copyset has heartbeated
 * recently, and only to a member whose applied index is within catchUpLag
 * of the leader's (a lagging transferee makes the leader refuse writes
 * until it catches up or the transfer is abandoned).
 */
export function balanceLeaders(view: SchedulerView, nodes: Map<number, NodeView>): PendingOp[] {
  const healthy = view.copysets.filter((cs) => cs.members.length === view.config.replicas && cs.members.every((m) => isFresh(nodes, m)) && liveLeader(cs, nodes) !== undefined);
  if (healthy.length !== view.copysets.length) return [];
  const caughtUp = (cs: CopysetView, m: number): boolean => (cs.live!.peerApplied.get(m) ?? -Infinity) + view.config.catchUpLag >= cs.live!.appliedIndex;
  const leads = new Map<number, number>();
  for (const n of view.nodes) if (n.up) leads.set(n.id, 0);
  for (const cs of healthy) leads.set(cs.live!.leaderId, (leads.get(cs.live!.leaderId) ?? 0) + 1);
  const out: PendingOp[] = [];
  const moved = new Set<number>();
  for (const cs of [...healthy].sort((a, b) => a.id - b.id)) {
    const from = cs.live!.leaderId;
    const fromCount = leads.get(from)!;
    let to: number | undefined;
    for (const m of cs.members) {
      if (m === from || moved.has(m) || !caughtUp(cs, m)) continue;
      if (leads.get(m)! + 1 < fromCount && (to === undefined || leads.get(m)! < leads.get(to)!)) to = m;
    }
    if (to === undefined || moved.has(from)) continue;
    leads.set(from, fromCount - 1);
    leads.set(to, leads.get(to)! + 1);
    moved.add(from).add(to);
    out.push(op(cs, 'transferLeader', to, view.now));
  }
  return out;
}
