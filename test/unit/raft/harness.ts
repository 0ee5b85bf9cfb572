/**
 * A tiny synchronous cluster for focused tests: messages are delivered in
 * FIFO order until the network is quiet; links can be cut and messages
 * filtered or rewritten. Persistence follows the Ready contract.
 */
import { MemoryStorage, RaftNode, mulberry32 } from '../../../backends/chunk/raft/index.js';
import type { Entry, Message, RaftConfig, ReadState } from '../../../backends/chunk/raft/index.js';

export interface TestNode {
  readonly id: number;
  storage: MemoryStorage;
  raft: RaftNode;
  applied: Entry[];
  reads: ReadState[];
}

export type Filter = (m: Message) => Message | undefined;

export class Cluster {
  readonly nodes = new Map<number, TestNode>();
  private queue: Message[] = [];
  private cut = new Set<string>();
  filter: Filter | undefined;
  /** Every message ever sent, for assertions. */
  sent: Message[] = [];

  constructor(
    ids: number[],
    readonly opts: Partial<RaftConfig> = {},
    voters: number[] = ids,
  ) {
    for (const id of ids) {
      const storage = voters.includes(id) ? MemoryStorage.bootstrap(voters) : new MemoryStorage();
      this.add(id, storage);
    }
  }

  add(id: number, storage: MemoryStorage): TestNode {
    const raft = new RaftNode({ id, storage, random: mulberry32(id * 101), ...this.opts });
    const n: TestNode = { id, storage, raft, applied: [], reads: [] };
    this.nodes.set(id, n);
    return n;
  }

  node(id: number): TestNode {
    return this.nodes.get(id)!;
  }

  raft(id: number): RaftNode {
    return this.node(id).raft;
  }

  /** Crash and restart from storage: everything not persisted is lost. */
  restart(id: number): void {
    const n = this.node(id);
    n.raft = new RaftNode({ id, storage: n.storage, random: mulberry32(id * 977), ...this.opts });
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: number, b: number): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Handle every node's Ready, queueing their messages. */
  processAll(): void {
    for (const n of this.nodes.values()) this.process(n);
  }

  process(n: TestNode): void {
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) {
        this.sent.push(m);
        this.queue.push(m);
      }
      for (const e of rd.committedEntries) n.applied.push(e);
      for (const r of rd.readStates) n.reads.push(r);
      n.raft.advance(rd);
    }
  }

  /** Deliver until quiet (bounded). */
  stabilize(maxMessages = 10_000): void {
    this.processAll();
    for (let k = 0; k < maxMessages; k++) {
      const m = this.queue.shift();
      if (m === undefined) return;
      this.deliver(m);
    }
    throw new Error('cluster did not stabilize');
  }

  private deliver(m: Message): void {
    if (this.cut.has(`${m.from}-${m.to}`)) return;
    const out = this.filter ? this.filter(m) : m;
    const n = this.nodes.get(m.to);
    if (out === undefined || n === undefined) return;
    n.raft.step(out);
    this.process(n);
  }

  tick(id: number, times = 1): void {
    for (let k = 0; k < times; k++) {
      this.raft(id).tick();
      this.stabilize();
    }
  }

  tickAll(times = 1): void {
    for (let k = 0; k < times; k++) {
      for (const n of this.nodes.values()) n.raft.tick();
      this.stabilize();
    }
  }

  /** Make `id` leader by campaigning and delivering the election. */
  elect(id: number): void {
    this.raft(id).campaign();
    this.stabilize();
  }

  leaders(): number[] {
    return [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader').map((n) => n.id);
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (e: Entry): string => new TextDecoder().decode(e.data);
