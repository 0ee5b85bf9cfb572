/**
 * A model of chunkservers for MDS tests: no Raft, no data. Each fake hosts
 * copysets the MDS assigns, reports leader/term/members/applied index, and
 * carries out the ops the MDS returns (membership changes apply at once).
 */
import type { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import type { CopysetReport, HeartbeatResponse } from '../../backends/chunk/proto/mds-api.js';

interface GroupModel {
  members: number[];
  leader: number;
  term: number;
  applied: number;
}

export class FakeCluster {
  /** copysetId → shared group state (what Raft would agree on). */
  readonly groups = new Map<number, GroupModel>();
  /** chunkserver id → copysets it hosts. */
  readonly hosted = new Map<number, Set<number>>();
  readonly dead = new Set<number>();
  readonly ids: number[] = [];

  constructor(private readonly mds: MdsClient) {}

  async register(zones: string[]): Promise<void> {
    for (let i = 0; i < zones.length; i++) {
      const r = await this.mds.registerChunkserver({ zone: zones[i]!, server: `host${i}`, address: `127.0.0.1:${20000 + i}`, capacityBytes: 1 << 30 });
      this.ids.push(r.chunkserverId);
      this.hosted.set(r.chunkserverId, new Set());
    }
  }

  private report(id: number): CopysetReport[] {
    return [...this.hosted.get(id)!].map((cs) => {
      const g = this.groups.get(cs)!;
      return { copysetId: cs, leaderId: g.leader, term: g.term, members: [...g.members], appliedIndex: g.applied };
    });
  }

  /** One heartbeat from every live chunkserver; applies the replies. */
  async beatAll(): Promise<HeartbeatResponse[]> {
    const out: HeartbeatResponse[] = [];
    for (const id of this.ids) {
      if (this.dead.has(id)) continue;
      const res = await this.mds.heartbeat({ chunkserverId: id, address: `x:${id}`, capacityBytes: 1 << 30, usedBytes: 0, copysets: this.report(id) });
      this.apply(id, res);
      out.push(res);
    }
    for (const g of this.groups.values()) {
      g.applied++;
      if (this.dead.has(g.leader)) this.elect(g);
    }
    return out;
  }

  private elect(g: GroupModel): void {
    const alive = g.members.filter((m) => !this.dead.has(m));
    if (alive.length * 2 > g.members.length) {
      g.leader = alive[0]!;
      g.term++;
    }
  }

  private apply(id: number, res: HeartbeatResponse): void {
    for (const a of res.create) {
      this.hosted.get(id)!.add(a.copysetId);
      if (!this.groups.has(a.copysetId)) this.groups.set(a.copysetId, { members: a.members.map((m) => m.id), leader: a.members[0]!.id, term: 1, applied: 1 });
    }
    for (const cs of res.remove) this.hosted.get(id)!.delete(cs);
    for (const op of res.ops) {
      const g = this.groups.get(op.copysetId)!;
      if (op.kind === 'addPeer' && !g.members.includes(op.peer.id)) g.members.push(op.peer.id);
      if (op.kind === 'removePeer') g.members = g.members.filter((m) => m !== op.peer.id);
      if (op.kind === 'transferLeader') {
        g.leader = op.peer.id;
        g.term++;
      }
    }
  }
}
