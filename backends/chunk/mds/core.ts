/**
 * The active MDS's in-memory state: durable records loaded from the store
 * when this MDS becomes active, plus soft state rebuilt from heartbeats.
 * Reads are served from memory; every change goes through `mutate`, which
 * runs one change at a time and commits to the store before memory changes
 * (so a reply never reports state that is not durable).
 */
import type { Logger } from 'pino';
import { newIdentityId } from '../../../src/util/identity-id.js';
import { KEY_PREFIX, KEYS, putJson, type KvOp, type KvStore } from './store.js';
import {
  INITIAL_COUNTERS,
  type ChunkserverRecord,
  type CopysetLive,
  type CopysetRecord,
  type Counters,
  type MdsConfig,
  type PendingOp,
  type SegmentRecord,
  type VolumeRecord,
} from './types.js';

export class MdsCore {
  counters: Counters = { ...INITIAL_COUNTERS };
  readonly chunkservers = new Map<number, ChunkserverRecord>();
  readonly copysets = new Map<number, CopysetRecord>();
  readonly volumes = new Map<string, VolumeRecord>();
  /** volumeId → segment index → record. */
  readonly segments = new Map<number, Map<number, SegmentRecord>>();

  // soft state
  readonly lastSeen = new Map<number, number>();
  /** Interval between a chunkserver's last two heartbeats (its heartbeat period, as observed). */
  readonly beatPeriod = new Map<number, number>();
  readonly usage = new Map<number, { capacityBytes: number; usedBytes: number }>();
  readonly live = new Map<number, CopysetLive>();
  /** Copysets each chunkserver reported in its last heartbeat. */
  readonly hosted = new Map<number, Set<number>>();
  pending: PendingOp[] = [];
  lastRegistrationAt = 0;

  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly store: KvStore,
    readonly config: MdsConfig,
    /** When this MDS became active: chunkservers count as up until heartbeatTimeoutMs after it. */
    readonly activeSince: number,
    readonly log?: Logger,
  ) {}

  static async load(store: KvStore, config: MdsConfig, now: number, log?: Logger, newUuid: () => string = newIdentityId): Promise<MdsCore> {
    const core = new MdsCore(store, config, now, log);
    for (const [key, value] of await store.list(KEY_PREFIX)) core.loadKey(key, JSON.parse(value) as unknown);
    await core.assignMissingUuids(newUuid);
    return core;
  }

  /**
   * Volumes from before volume identities get theirs once, in one commit
   * (all or none), before this MDS serves them: a gateway never sees a
   * volume without an identity, and two MDSs cannot assign two (the store
   * is fenced to the active one).
   */
  private async assignMissingUuids(newUuid: () => string): Promise<void> {
    const missing = [...this.volumes.values()].filter((v) => typeof v.uuid !== 'string' || v.uuid === '');
    if (missing.length === 0) return;
    const updated = missing.map((v) => ({ ...v, uuid: newUuid() }));
    await this.mutate(() => ({
      ops: updated.map((v) => putJson(KEYS.volume(v.name), v)),
      apply: () => {
        for (const v of updated) this.volumes.set(v.name, v);
      },
    }));
    this.log?.info({ volumes: updated.map((v) => v.name) }, 'mds assigned identities to volumes that had none');
  }

  private loadKey(key: string, v: unknown): void {
    if (key === KEYS.counters) this.counters = { ...INITIAL_COUNTERS, ...(v as Counters) };
    else if (key.startsWith('/blockgate/chunkservers/')) this.chunkservers.set((v as ChunkserverRecord).id, v as ChunkserverRecord);
    else if (key.startsWith('/blockgate/copysets/')) this.copysets.set((v as CopysetRecord).id, v as CopysetRecord);
    else if (key.startsWith('/blockgate/volumes/')) this.volumes.set((v as VolumeRecord).name, v as VolumeRecord);
    else if (key.startsWith('/blockgate/segments/')) this.segmentsOf((v as SegmentRecord).volumeId).set((v as SegmentRecord).index, v as SegmentRecord);
  }

  segmentsOf(volumeId: number): Map<number, SegmentRecord> {
    let m = this.segments.get(volumeId);
    if (!m) this.segments.set(volumeId, (m = new Map()));
    return m;
  }

  /**
   * Run `fn` alone: it may read state and returns the store ops plus a
   * function that applies the same change to memory once committed.
   */
  mutate<T>(fn: () => { ops: KvOp[]; apply: () => T }): Promise<T> {
    const run = this.chain.then(async () => {
      const { ops, apply } = fn();
      await this.store.commit(ops);
      return apply();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  countersOp(c: Counters): KvOp {
    return putJson(KEYS.counters, c);
  }

  isUp(id: number, now: number): boolean {
    const seen = Math.max(this.lastSeen.get(id) ?? 0, this.activeSince);
    return now - seen <= this.config.heartbeatTimeoutMs;
  }

  /** Record a heartbeat from `id` at `now`. */
  noteHeartbeat(id: number, now: number): void {
    const prev = this.lastSeen.get(id);
    if (prev !== undefined && now > prev) this.beatPeriod.set(id, now - prev);
    this.lastSeen.set(id, now);
  }

  /**
   * Heard from since this MDS became active, within three of its own
   * heartbeat periods (at least 500 ms, at most heartbeatTimeoutMs): a
   * chunkserver that just died is still "up" but no longer fresh.
   */
  isFresh(id: number, now: number): boolean {
    const seen = this.lastSeen.get(id);
    if (seen === undefined) return false;
    const window = Math.min(this.config.heartbeatTimeoutMs, Math.max(500, 3 * (this.beatPeriod.get(id) ?? this.config.heartbeatTimeoutMs)));
    return now - seen <= window;
  }

  liveOf(copysetId: number): CopysetLive {
    let l = this.live.get(copysetId);
    if (!l) this.live.set(copysetId, (l = { leaderId: 0, term: 0, appliedIndex: 0, peerApplied: new Map() }));
    return l;
  }

  peerAddr(id: number): { id: number; address: string; zone: string } {
    const cs = this.chunkservers.get(id);
    return { id, address: cs?.address ?? '', zone: cs?.zone ?? '' };
  }
}
