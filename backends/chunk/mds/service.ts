/**
 * MDS RPC service: binds the MDS operations to an RpcServer and gates them
 * on the election. Only the active MDS serves; any other answers
 * NOT_LEADER with the active address. On election it loads the state from
 * the store (MdsCore.load) and fences its writes; on loss it drops the
 * state at once. It also runs the scheduler tick and copyset creation.
 */
import type { Logger } from 'pino';
import type { MdsLeaderResponse, MdsResponse } from '../proto/mds-api.js';
import { MSG } from '../proto/messages.js';
import type { RpcServer } from '../proto/rpc-server.js';
import { STATUS } from '../proto/status.js';
import { MdsCore } from './core.js';
import type { Election } from './election.js';
import { EtcdStore } from './etcd-store.js';
import { heartbeat, scheduleTick } from './heartbeat.js';
import { KEYS, StoreError, StoreFencedError, type KvStore } from './store.js';
import { ensureCopysets, getCopysets, registerChunkserver } from './topology.js';
import { clusterStatus } from './status.js';
import { createVolume, deleteVolume, extendVolume, getSegment, getVolume, listVolumes } from './volumes.js';
import type { MdsConfig } from './types.js';

export interface MdsServiceOptions {
  self: string;
  store: KvStore;
  election: Election;
  config: MdsConfig;
  /** Scheduler period (ms). */
  tickMs: number;
  /** Create copysets only once no chunkserver registered for this long (ms), so a cluster coming up gets one balanced layout. */
  copysetSettleMs: number;
  log?: Logger;
}

type Op = (core: MdsCore, req: Record<string, unknown>, now: number) => Promise<MdsResponse | object> | MdsResponse | object;

/** The MDS operations by message type (GET_MDS_LEADER is answered by every MDS). */
const OPS: ReadonlyArray<[number, Op]> = [
  [MSG.REGISTER_CHUNKSERVER, registerChunkserver],
  [MSG.HEARTBEAT, heartbeat],
  [MSG.CREATE_VOLUME, createVolume],
  [MSG.DELETE_VOLUME, deleteVolume],
  [MSG.EXTEND_VOLUME, extendVolume],
  [MSG.LIST_VOLUMES, listVolumes],
  [MSG.GET_VOLUME, getVolume],
  [MSG.GET_SEGMENT, getSegment],
  [MSG.GET_COPYSETS, getCopysets],
];

export class MdsService {
  private core: MdsCore | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;

  constructor(private readonly o: MdsServiceOptions) {
    o.election.onChange((leader) => (leader ? void this.activate() : this.deactivate()));
  }

  /** The state while active (tests and metrics). */
  get active(): MdsCore | undefined {
    return this.o.election.isLeader() ? this.core : undefined;
  }

  register(server: RpcServer): void {
    for (const [type, op] of OPS) server.handleJson(type, (req) => this.serve(op, req));
    server.handleJson(MSG.CLUSTER_STATUS, (req) => this.serve((core, _r, now) => clusterStatus(core, now, true, this.o.self), req));
    server.handleJson(MSG.GET_MDS_LEADER, (): MdsLeaderResponse => {
      const isLeader = this.active !== undefined;
      return { status: STATUS.OK, self: this.o.self, isLeader, leader: isLeader ? this.o.self : this.o.election.leaderAddress() };
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.core = undefined;
  }

  private async serve(op: Op, req: Record<string, unknown>): Promise<object> {
    const core = this.active;
    if (!core) return this.notLeader();
    try {
      return await op(core, req, Date.now());
    } catch (e) {
      if (e instanceof StoreFencedError) {
        this.o.log?.warn({ err: e.message }, 'mds write fenced: another MDS is active');
        this.deactivate();
        return this.notLeader();
      }
      if (e instanceof StoreError) return { status: STATUS.IO_ERROR, message: e.message };
      throw e;
    }
  }

  private notLeader(): MdsResponse {
    const hint = this.o.election.leaderAddress();
    return { status: STATUS.NOT_LEADER, leaderHint: hint === this.o.self && !this.active ? '' : hint };
  }

  private async activate(): Promise<void> {
    const gen = ++this.generation;
    const fence = this.o.election.fenceValue();
    if (this.o.store instanceof EtcdStore) this.o.store.setFence(fence ? { key: KEYS.leader, value: fence } : undefined);
    try {
      const core = await MdsCore.load(this.o.store, this.o.config, Date.now(), this.o.log);
      if (gen !== this.generation || !this.o.election.isLeader()) return;
      this.core = core;
      this.o.log?.info({ volumes: core.volumes.size, copysets: core.copysets.size, chunkservers: core.chunkservers.size }, 'mds active: state loaded');
      this.timer = setInterval(() => void this.tick(), this.o.tickMs);
    } catch (e) {
      this.o.log?.error({ err: (e as Error).message }, 'mds failed to load state');
    }
  }

  private deactivate(): void {
    this.generation++;
    this.stop();
  }

  private async tick(): Promise<void> {
    const core = this.active;
    if (!core) return;
    const now = Date.now();
    try {
      scheduleTick(core, now);
      if (now - core.lastRegistrationAt >= this.o.copysetSettleMs) await ensureCopysets(core, now);
    } catch (e) {
      if (e instanceof StoreFencedError) this.deactivate();
      this.o.log?.warn({ err: (e as Error).message }, 'mds tick failed');
    }
  }
}
