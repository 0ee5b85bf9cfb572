/**
 * The copysets hosted by one chunkserver (multi-Raft): opens those found on
 * disk at start, creates/removes them as MDS heartbeat replies say, routes
 * Raft messages by group id, ticks every group from one timer, and builds
 * the per-copyset part of heartbeats.
 *
 *   <dataDir>/raft/<copysetId>/     the group's LogStore
 *   <dataDir>/chunks/<copysetId>/   its chunk files (ChunkStore)
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { mkdirPrivate } from '../../../src/util/private-fs.js';
import type { CopysetAssignment, CopysetReport, HeartbeatResponse } from '../proto/mds-api.js';
import type { ChunkStore } from './chunk-store.js';
import { Copyset, type CopysetOptions } from './copyset.js';
import type { PeerTransport } from './transport.js';

/** Options applied to every group (see CopysetOptions). */
export type GroupTuning = Pick<
  CopysetOptions,
  'electionTicks' | 'snapshotEntries' | 'snapshotBytes' | 'keepLogEntries' | 'segmentBytes' | 'maxPendingProposals' | 'promoteLag' | 'pieceBytes'
>;

export class CopysetManager {
  private readonly groups = new Map<number, Copyset>();
  /** Copysets being opened or destroyed: ignore repeated create/remove meanwhile. */
  private readonly busy = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly nodeId: number,
    private readonly store: ChunkStore,
    private readonly transport: PeerTransport,
    private readonly tuning: GroupTuning,
    private readonly log?: Logger,
  ) {}

  get(id: number): Copyset | undefined {
    return this.groups.get(id);
  }

  all(): Copyset[] {
    return [...this.groups.values()];
  }

  private raftDir(id: number): string {
    return join(this.dataDir, 'raft', String(id));
  }

  /** Reopen every group with a log on disk (after a restart). */
  async openExisting(): Promise<number[]> {
    const root = join(this.dataDir, 'raft');
    await mkdirPrivate(root);
    const ids = (await readdir(root)).filter((n) => /^\d+$/.test(n)).map(Number);
    for (const id of ids) await this.open(id, undefined);
    return ids;
  }

  /** Tick every group every `tickMs` (docs/raft.md: time is the host's tick). */
  start(tickMs: number): void {
    this.timer = setInterval(() => {
      for (const g of this.groups.values()) g.tick();
    }, tickMs);
  }

  private async open(id: number, bootstrap: readonly number[] | undefined): Promise<void> {
    if (this.groups.has(id) || this.busy.has(id)) return;
    this.busy.add(id);
    try {
      const g = await Copyset.open({ ...this.tuning, copysetId: id, nodeId: this.nodeId, raftDir: this.raftDir(id), store: this.store, transport: this.transport, bootstrap, log: this.log });
      this.groups.set(id, g);
      this.log?.info({ copyset: id, bootstrap }, 'copyset opened');
    } finally {
      this.busy.delete(id);
    }
  }

  async create(a: CopysetAssignment): Promise<void> {
    for (const m of a.members) this.transport.setAddress(m.id, m.address);
    await this.open(a.copysetId, a.join ? undefined : a.members.map((m) => m.id));
  }

  async remove(id: number): Promise<void> {
    const g = this.groups.get(id);
    if (!g || this.busy.has(id)) return;
    this.busy.add(id);
    this.groups.delete(id);
    try {
      await g.destroy();
      this.log?.info({ copyset: id }, 'copyset removed');
    } finally {
      this.busy.delete(id);
    }
  }

  /** Apply a heartbeat reply: create, remove, then run ops (each idempotent). */
  async applyHeartbeat(res: HeartbeatResponse): Promise<void> {
    for (const a of res.create ?? []) {
      await this.create(a).catch((e: unknown) => this.log?.error({ copyset: a.copysetId, err: (e as Error).message }, 'copyset create failed'));
    }
    for (const id of res.remove ?? []) {
      await this.remove(id).catch((e: unknown) => this.log?.error({ copyset: id, err: (e as Error).message }, 'copyset remove failed'));
    }
    for (const op of res.ops ?? []) this.groups.get(op.copysetId)?.executeOp(op);
  }

  reports(): CopysetReport[] {
    return this.all().map((g) => g.report());
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const g of this.groups.values()) await g.close();
    this.groups.clear();
  }
}
