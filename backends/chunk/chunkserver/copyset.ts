/**
 * Copyset: the host of one Raft group (docs/raft.md) whose state machine is
 * the copyset's chunk files in the ChunkStore.
 *
 * Ready loop (docs/raft.md "The Ready contract"), one at a time per group:
 *   1. snapshot → fetch its chunk files (snapshot-transfer.ts), fdatasync,
 *      record it (LogStore.saveSnapshot replaceLog) and install it;
 *   2+3. entries, then term/vote, through the LogStore queue (group commit:
 *      one writev + one fdatasync for everything queued meanwhile);
 *   4. send messages (only now: a vote or an ack promises 1–3 are durable);
 *   5. apply committed entries to the ChunkStore, answer their proposals,
 *      release reads whose read point is applied; then advance().
 * `commit` in HardState is persisted lazily (only with a term/vote change):
 * it is re-learned from the leader, as docs/raft.md allows.
 *
 * Durability (why chunk writes are acknowledged without fdatasync of the
 * chunk file): a write is acknowledged only after its entry is committed,
 * i.e. fdatasync'ed in the Raft log of a majority, and applied here. The
 * applied state need not be durable because it can be rebuilt: on restart
 * a group starts from `applied = index of its last snapshot`, and a
 * snapshot is recorded only after syncCopyset() fdatasync'ed every chunk
 * file written since the previous one (and the directory); the log is
 * compacted only up to that snapshot, so every entry after it is still in
 * the log and is re-applied. Commands are idempotent overwrites/resets, so
 * re-applying an entry whose effect did reach the disk is harmless. A
 * snapshot received from a leader is recorded only after its fetched files
 * are fdatasync'ed. Hence a write acknowledged to a client survives the
 * loss of any minority of replicas, including kill -9 of the leader.
 *
 * Reads go through ReadIndex (lease-based when the lease is valid: no
 * round trip), so they are linearizable: a read started after a write was
 * acknowledged sees it, on this leader or any later one.
 */
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { chunkResponse, type ChunkRequest, type ChunkResponse } from '../proto/chunk.js';
import type { CopysetOp, CopysetReport } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import { LogStore } from '../raft/log-store.js';
import { bootstrapLog, MemoryStorage, mulberry32, RaftNode, type Entry, type HardState, type Message, type Ready, type Role, type Snapshot } from '../raft/index.js';
import type { ChunkStore } from './chunk-store.js';
import { decodeCommand, decodeListing, encodeCommand, encodeListing, type CopysetCommand } from './codec.js';
import { PendingProposals, PendingReads } from './pending.js';
import { isCloseFollower, learnerToPromote } from './promotion.js';
import { fetchSnapshotFiles } from './snapshot-transfer.js';
import type { PeerTransport } from './transport.js';

export interface CopysetOptions {
  readonly copysetId: number;
  /** This chunkserver's id = its Raft node id in every group. */
  readonly nodeId: number;
  readonly raftDir: string;
  readonly store: ChunkStore;
  readonly transport: PeerTransport;
  /** Initial voters of a brand-new group (MDS `create`, join: false). Absent: reopen, or join empty. */
  readonly bootstrap?: readonly number[];
  readonly electionTicks?: number;
  /** Snapshot after this many applied entries (default 2000) or command bytes (default 64 MiB). */
  readonly snapshotEntries?: number;
  readonly snapshotBytes?: number;
  /** Entries kept behind a snapshot so slightly lagging peers catch up from the log. Default 200. */
  readonly keepLogEntries?: number;
  readonly segmentBytes?: number;
  /** Proposals in flight before writes get OVERLOAD. Default 4096. */
  readonly maxPendingProposals?: number;
  /** A learner within this many entries of the leader is promoted to voter. Default 64. */
  readonly promoteLag?: number;
  readonly pieceBytes?: number;
  readonly log?: Logger;
}

type Answer = ChunkResponse;

export class Copyset {
  readonly id: number;
  private readonly log: Logger | undefined;
  private readonly proposals = new PendingProposals<Answer>();
  private readonly reads = new PendingReads<Answer>();
  private readonly electionTicks: number;
  private running = false;
  private closed = false;
  private failed: unknown;
  private persisted: HardState;
  private ticks = 0;
  private snapIndex: number;
  private bytesSinceSnap = 0;
  role: Role = 'follower';
  lead = 0;
  applied: number;

  private constructor(
    private readonly o: CopysetOptions,
    private readonly node: RaftNode,
    private readonly storage: MemoryStorage,
    private readonly logStore: LogStore,
    hard: HardState,
  ) {
    this.id = o.copysetId;
    this.log = o.log?.child({ copyset: o.copysetId });
    this.electionTicks = o.electionTicks ?? 10;
    this.persisted = hard;
    this.snapIndex = storage.snapshot().meta.index;
    this.applied = this.snapIndex;
  }

  /** Open (or create) the group's durable log and start its Raft node. */
  static async open(o: CopysetOptions): Promise<Copyset> {
    const { store, state } = await LogStore.open(o.raftDir, { segmentBytes: o.segmentBytes });
    let storage = LogStore.toMemoryStorage(state);
    let hard = state.hardState;
    const empty = state.snapshot === undefined && state.entries.length === 0 && hard.term === 0;
    if (empty && o.bootstrap && o.bootstrap.length > 0) {
      const boot = bootstrapLog(o.bootstrap);
      await store.append(boot.entries);
      await store.saveHardState(boot.hardState);
      storage = MemoryStorage.bootstrap(o.bootstrap);
      hard = boot.hardState;
    }
    const node = new RaftNode({
      id: o.nodeId, storage, random: mulberry32((Math.random() * 2 ** 32) >>> 0),
      electionTicks: o.electionTicks ?? 10, applied: storage.snapshot().meta.index,
    });
    return new Copyset(o, node, storage, store, hard);
  }

  // ------------------------------------------------------------ inputs

  tick(): void {
    if (this.closed) return;
    this.node.tick();
    if (++this.ticks % this.electionTicks === 0) {
      this.promoteLearners();
      this.reads.expire(this.ticks, 3 * this.electionTicks, this.notLeader(0));
    }
    this.schedule();
  }

  step(m: Message): void {
    if (this.closed) return;
    this.node.step(m);
    this.schedule();
  }

  /** WRITE_CHUNK: answered after the write is committed and applied. */
  write(req: ChunkRequest): Promise<Answer> {
    if (req.offset + req.length > this.o.store.chunkSizeBytes) return Promise.resolve(chunkResponse(STATUS.INVALID));
    return this.propose({ op: 'write', chunkId: req.chunkId, offset: req.offset, seq: req.seq, data: req.data! });
  }

  delete(req: ChunkRequest): Promise<Answer> {
    return this.propose({ op: 'delete', chunkId: req.chunkId, seq: req.seq });
  }

  /** READ_CHUNK: linearizable; never-written bytes read as zeroes. */
  async read(req: ChunkRequest): Promise<Answer> {
    if (req.offset + req.length > this.o.store.chunkSizeBytes) return chunkResponse(STATUS.INVALID);
    const refused = await this.readBarrier();
    if (refused) return refused;
    const data = await this.o.store.read(this.id, req.chunkId, req.offset, req.length);
    return chunkResponse(STATUS.OK, { data });
  }

  /** GET_CHUNK_INFO: CHUNK_NOT_EXIST for a chunk never written (or deleted). */
  async info(req: ChunkRequest): Promise<Answer> {
    const refused = await this.readBarrier();
    if (refused) return refused;
    const meta = await this.o.store.info(this.id, req.chunkId);
    if (!meta) return chunkResponse(STATUS.CHUNK_NOT_EXIST);
    return chunkResponse(STATUS.OK, { chunkSeq: meta.chunkSeq, snapshotSeq: meta.snapshotSeq });
  }

  /**
   * Carry out an MDS op (leader only; repeats are no-ops). addPeer adds a learner, promoted to
   * voter by promoteLearners() once caught up, so a slow newcomer never stalls the commit quorum.
   */
  executeOp(op: CopysetOp): void {
    if (this.closed || this.role !== 'leader') return;
    this.o.transport.setAddress(op.peer.id, op.peer.address);
    const { conf } = this.node.status();
    const id = op.peer.id;
    const member = conf.voters.includes(id) || conf.learners.includes(id);
    let res: { ok: boolean; reason?: string } | undefined; // undefined: nothing to do (yet)
    if (op.kind === 'addPeer' && !member) res = this.node.proposeConfChange({ op: 'addLearner', nodeId: id });
    if (op.kind === 'removePeer' && member) res = this.node.proposeConfChange({ op: 'removeNode', nodeId: id });
    if (op.kind === 'transferLeader' && id !== this.o.nodeId && conf.voters.includes(id) && this.nearlyCaughtUp(id)) res = this.node.transferLeadership(id);
    if (res) this.log?.info({ op: op.kind, peer: id, ok: res.ok, reason: res.reason }, 'copyset op');
    this.schedule();
  }

  /** A transfer refuses writes (OVERLOAD) until the transferee has the whole log: start it only towards a close follower (the MDS repeats the op). */
  private nearlyCaughtUp(id: number): boolean {
    return isCloseFollower(this.node.status(), id, this.o.promoteLag ?? 64);
  }

  report(): CopysetReport {
    const s = this.node.status();
    return { copysetId: this.id, leaderId: s.lead, term: s.term, members: [...s.conf.voters, ...s.conf.learners], appliedIndex: this.applied };
  }

  /** Entries held in the (in-memory mirror of the) Raft log. */
  get logEntries(): number {
    return this.storage.lastIndex() - this.storage.firstIndex() + 1;
  }

  get term(): number {
    return this.node.status().term;
  }

  /** Stop the group (fail what is pending); the data stays. */
  async close(): Promise<void> {
    if (this.closed && !this.running) return;
    this.closed = true;
    this.failPending(this.notLeader(0));
    for (let i = 0; this.running && i < 3000; i++) await new Promise((r) => setTimeout(r, 5));
    await this.logStore.close();
  }

  /** Stop the group and delete its log and chunk files (MDS `remove`). */
  async destroy(): Promise<void> {
    await this.close();
    await rm(this.o.raftDir, { recursive: true, force: true });
    await this.o.store.removeCopyset(this.id);
  }

  // ------------------------------------------------------------ proposals and reads

  private async propose(cmd: CopysetCommand): Promise<Answer> {
    if (this.failed !== undefined) return chunkResponse(STATUS.IO_ERROR);
    if (this.closed) return this.notLeader(0);
    if (this.proposals.size >= (this.o.maxPendingProposals ?? 4096)) return chunkResponse(STATUS.OVERLOAD);
    const r = this.node.propose(encodeCommand(cmd));
    if (!r.ok) return r.reason === 'notLeader' ? this.notLeader(r.lead) : chunkResponse(STATUS.OVERLOAD);
    this.schedule();
    const out = await this.proposals.add(r.index, r.term);
    return out === 'lost' ? this.notLeader(this.lead) : out;
  }

  /** Resolves undefined once a linearizable read may run, else the refusal. */
  private async readBarrier(): Promise<Answer | undefined> {
    if (this.failed !== undefined) return chunkResponse(STATUS.IO_ERROR);
    if (this.closed) return this.notLeader(0);
    const { ctx, done } = this.reads.add(this.ticks);
    const r = this.node.readIndex(ctx);
    if (!r.ok) {
      this.reads.drop(ctx);
      return this.notLeader(r.lead);
    }
    this.schedule();
    const out = await done;
    return out === 'ready' ? undefined : out;
  }

  private notLeader(lead: number): Answer {
    return chunkResponse(STATUS.NOT_LEADER, { leaderHintId: lead, leaderHint: this.o.transport.addressOf(lead) });
  }

  private failPending(answer: Answer): void {
    this.proposals.failAll(answer);
    this.reads.failAll(answer);
  }

  private promoteLearners(): void {
    if (this.role !== 'leader') return;
    const id = learnerToPromote(this.node.status(), this.o.promoteLag ?? 64);
    if (id === undefined) return;
    const res = this.node.proposeConfChange({ op: 'addVoter', nodeId: id });
    this.log?.info({ peer: id, ok: res.ok }, 'promote learner to voter');
  }

  // ------------------------------------------------------------ the Ready loop

  private schedule(): void {
    if (this.running || this.closed) return;
    this.running = true;
    queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed && this.node.hasReady()) {
        const rd = this.node.ready();
        await this.handleReady(rd);
        this.node.advance(rd);
        await this.maybeSnapshot();
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.running = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.lead);
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    const writes: Promise<void>[] = [];
    if (rd.entries.length > 0) writes.push(this.logStore.append(rd.entries));
    const hs = rd.hardState;
    if (hs && (hs.term !== this.persisted.term || hs.vote !== this.persisted.vote)) {
      writes.push(this.logStore.saveHardState(hs));
      this.persisted = hs;
    }
    await Promise.all(writes);
    this.storage.append(rd.entries);
    if (hs) this.storage.setHardState(hs);
    this.send(rd.messages);
    await this.apply(rd.committedEntries);
    for (const rs of rd.readStates) this.reads.readPoint(rs.ctx, rs.index);
    this.reads.release(this.applied);
  }

  private onSoftState(role: Role, lead: number): void {
    const wasLeader = this.role === 'leader';
    if (lead !== this.lead || role !== this.role) this.log?.info({ role, lead }, 'copyset role changed');
    this.role = role;
    this.lead = lead;
    if (wasLeader && role !== 'leader') this.failPending(this.notLeader(lead));
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (this.o.transport.send(this.id, m)) continue;
      this.node.reportUnreachable(m.to);
      if (m.type === 'InstallSnapshot') this.node.reportSnapshot(m.to, false);
    }
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) {
      if (e.type === 'normal' && e.data.length > 0) {
        const cmd = decodeCommand(e.data);
        if (cmd?.op === 'write') await this.o.store.write(this.id, cmd.chunkId, cmd.offset, cmd.data, cmd.seq);
        if (cmd?.op === 'delete') await this.o.store.delete(this.id, cmd.chunkId);
        this.bytesSinceSnap += e.data.length;
      }
      this.applied = e.index;
      this.proposals.applied(e, chunkResponse(STATUS.OK));
    }
  }

  private async installSnapshot(snap: Snapshot): Promise<void> {
    const listing = decodeListing(snap.data) ?? { chunkSizeBytes: this.o.store.chunkSizeBytes, chunks: [] };
    if (listing.chunkSizeBytes !== this.o.store.chunkSizeBytes) throw new Error(`snapshot chunk size ${listing.chunkSizeBytes} ≠ ${this.o.store.chunkSizeBytes}`);
    this.log?.info({ index: snap.meta.index, chunks: listing.chunks.length }, 'installing snapshot');
    const ok = await fetchSnapshotFiles({
      copysetId: this.id, snapshotIndex: snap.meta.index, listing, store: this.o.store,
      sources: () => this.snapshotSources(snap), aborted: () => this.closed, pieceBytes: this.o.pieceBytes, log: this.log,
    });
    if (!ok) throw new Error('copyset closed during snapshot fetch');
    await this.logStore.saveSnapshot(snap, true);
    this.storage.applySnapshot(snap);
    this.applied = this.snapIndex = snap.meta.index;
    this.bytesSinceSnap = 0;
    this.log?.info({ index: snap.meta.index }, 'snapshot installed');
  }

  private snapshotSources(snap: Snapshot) {
    const ids = [this.node.status().lead, ...snap.meta.conf.voters, ...snap.meta.conf.learners];
    const addrs = [...new Set(ids.filter((id) => id !== 0 && id !== this.o.nodeId).map((id) => this.o.transport.addressOf(id)))];
    return addrs.filter((a) => a !== '').map((a) => this.o.transport.client(a));
  }

  /** Take a snapshot (list of chunk files) and compact the log, every snapshotEntries entries / snapshotBytes. */
  private async maybeSnapshot(): Promise<void> {
    const i = this.applied;
    if (i - this.snapIndex < (this.o.snapshotEntries ?? 2000) && this.bytesSinceSnap < (this.o.snapshotBytes ?? 64 << 20)) return;
    const term = this.node.termAt(i);
    if (term === undefined || i <= this.snapIndex) return;
    await this.o.store.syncCopyset(this.id); // the durability rule above: files first, then the snapshot
    const chunks = [];
    for (const chunkId of await this.o.store.list(this.id)) {
      const m = await this.o.store.info(this.id, chunkId);
      if (m) chunks.push({ chunkId, chunkSeq: m.chunkSeq, snapshotSeq: m.snapshotSeq });
    }
    const snap: Snapshot = { meta: { index: i, term, conf: this.node.confStateAt(i) }, data: encodeListing({ chunkSizeBytes: this.o.store.chunkSizeBytes, chunks }) };
    this.storage.createSnapshot(snap.meta, snap.data);
    await this.logStore.saveSnapshot(snap, false);
    this.snapIndex = i;
    this.bytesSinceSnap = 0;
    const j = i - (this.o.keepLogEntries ?? 200);
    if (j >= this.storage.firstIndex()) {
      this.storage.compact(j);
      await this.logStore.compact(j);
    }
    this.log?.debug({ index: i, chunks: chunks.length, compactedTo: j }, 'snapshot taken');
  }

  private fail(e: unknown): void {
    if (this.closed && this.failed === undefined) return; // closing interrupted a snapshot fetch
    this.failed = e;
    this.closed = true;
    this.log?.error({ err: (e as Error).message }, 'copyset stopped: storage failure');
    this.failPending(chunkResponse(STATUS.IO_ERROR));
  }
}
