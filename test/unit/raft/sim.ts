/**
 * Deterministic network + cluster simulator for the Raft core, with virtual
 * time and an invariant checker. One schedule = one seed; everything random
 * (faults, delays, election timeouts) derives from it, so a failing seed
 * replays exactly.
 *
 * Persistence is modelled faithfully: a node's MemoryStorage is its disk and
 * is written only while handling a Ready (snapshot, entries, hard state,
 * then messages go out). A crash drops the RaftNode and the application
 * state; a restart rebuilds both from the storage and the last snapshot.
 */
import { MemoryStorage, RaftNode, mulberry32 } from '../../../backends/chunk/raft/index.js';
import type { ConfChange, Entry, Message, Ready, Snapshot } from '../../../backends/chunk/raft/index.js';

export const TICK = 10; // virtual time units per tick

export interface SimOptions {
  readonly seed: number;
  readonly voters: number;
  readonly spares: number;
  readonly chaosTicks: number;
  readonly healTicks: number;
}

interface App {
  index: number;
  hash: number;
}

interface SimNode {
  readonly id: number;
  readonly storage: MemoryStorage;
  raft: RaftNode | undefined;
  app: App;
  restartAtTick: number;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly msg: Message;
}

export class SimFailure extends Error {}

function mix(h: number, term: number, data: Uint8Array): number {
  let x = (h ^ Math.imul(term, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < data.length; i++) x = Math.imul(x ^ data[i]!, 0x01000193) >>> 0;
  return Math.imul(x ^ (x >>> 15), 0x85ebca6b) >>> 0;
}

const enc = new TextEncoder();

export class Sim {
  readonly rng: () => number;
  readonly nodes = new Map<number, SimNode>();
  now = 0;
  tickNo = 0;
  private seq = 0;
  private queue: InFlight[] = [];
  // network faults
  lossRate = 0;
  dupRate = 0;
  maxDelay = 2 * TICK;
  private group = new Map<number, number>(); // partition: node → side
  // checker state
  private leaderOfTerm = new Map<number, number>();
  private committedTerm: number[] = [0];
  private appliedKey: string[] = [''];
  private appliedHash: number[] = [0];
  maxCommitted = 0;
  /** Per-schedule knobs, drawn from the seed. */
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private proposalSeq = 0;
  /** Set RAFT_TRACE=1 with RAFT_SEED to print a replay trace. */
  trace: ((line: string) => void) | undefined = process.env['RAFT_TRACE'] ? (l) => console.log(l) : undefined;
  stats = { elections: 0, applied: 0, snapshotsSent: 0, reads: 0, crashes: 0, confChanges: 0 };

  constructor(readonly opts: SimOptions) {
    this.rng = mulberry32(opts.seed);
    this.maxSizePerMsg = [40, 100, 256, 4096][this.rand(4)]!;
    this.maxInflightMsgs = [1, 4, 16][this.rand(3)]!;
    const ids = Array.from({ length: opts.voters + opts.spares }, (_, k) => k + 1);
    const voters = ids.slice(0, opts.voters);
    for (const id of ids) {
      const storage = voters.includes(id) ? MemoryStorage.bootstrap(voters) : new MemoryStorage();
      const n: SimNode = { id, storage, raft: undefined, app: { index: 0, hash: 0 }, restartAtTick: 0 };
      this.nodes.set(id, n);
      this.start(n);
    }
  }

  fail(what: string): never {
    throw new SimFailure(`seed ${this.opts.seed} tick ${this.tickNo}: ${what}`);
  }

  rand(n: number): number {
    return Math.floor(this.rng() * n);
  }

  // ------------------------------------------------------------ node lifecycle

  private start(n: SimNode): void {
    if (this.tickNo > 0) this.trace?.(`t${this.tickNo} RESTART n${n.id}`);
    const snap = n.storage.snapshot();
    n.app = snap.data.length > 0 ? decodeApp(snap.data) : { index: snap.meta.index, hash: 0 };
    if (n.app.index > 0 && this.appliedHash[n.app.index] !== n.app.hash) this.fail(`node ${n.id} restarted from a bad snapshot`);
    n.raft = new RaftNode({
      id: n.id, storage: n.storage, random: mulberry32(this.opts.seed * 31 + n.id * 7919 + this.tickNo),
      applied: n.app.index, electionTicks: 10, heartbeatTicks: 1, maxSizePerMsg: this.maxSizePerMsg, maxInflightMsgs: this.maxInflightMsgs,
      snapshotTimeoutTicks: 30,
    });
  }

  crash(id: number, downTicks: number): void {
    const n = this.nodes.get(id)!;
    if (n.raft === undefined) return;
    n.raft = undefined;
    this.trace?.(`t${this.tickNo} CRASH n${id} for ${downTicks}`);
    n.restartAtTick = this.tickNo + downTicks;
    this.stats.crashes++;
  }

  restartAll(): void {
    for (const n of this.nodes.values()) if (n.raft === undefined) this.start(n);
  }

  // ------------------------------------------------------------ network

  partition(sides: number[][]): void {
    this.trace?.(`t${this.tickNo} PARTITION ${JSON.stringify(sides)}`);
    this.group.clear();
    sides.forEach((side, k) => side.forEach((id) => this.group.set(id, k)));
  }

  heal(): void {
    if (this.group.size > 0) this.trace?.(`t${this.tickNo} HEAL`);
    this.group.clear();
  }

  partitioned(): boolean {
    return this.group.size > 0;
  }

  private connected(a: number, b: number): boolean {
    return (this.group.get(a) ?? -1) === (this.group.get(b) ?? -1);
  }

  private send(m: Message): void {
    if (m.type === 'InstallSnapshot') this.stats.snapshotsSent++;
    if (this.rng() < this.lossRate) return;
    const copies = this.rng() < this.dupRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      this.push({ at: this.now + 1 + this.rand(this.maxDelay), seq: this.seq++, msg: m });
    }
  }

  private push(f: InFlight): void {
    const q = this.queue;
    q.push(f);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(q[p]!, f)) break;
      q[i] = q[p]!;
      i = p;
    }
    q[i] = f;
  }

  private pop(): InFlight | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= q.length) break;
        const c = l + 1 < q.length && before(q[l + 1]!, q[l]!) ? l + 1 : l;
        if (before(last, q[c]!)) break;
        q[i] = q[c]!;
        i = c;
      }
      q[i] = last;
    }
    return top;
  }

  private deliverDue(): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= this.now) {
      const { msg } = this.pop()!;
      const n = this.nodes.get(msg.to);
      if (n?.raft === undefined || !this.connected(msg.from, msg.to)) continue;
      n.raft.step(msg);
      this.process(n);
    }
  }

  // ------------------------------------------------------------ time

  /** Advance one tick: deliver messages due in it, then tick every live node. */
  runTick(): void {
    for (let u = 0; u < TICK; u++) {
      this.now++;
      this.deliverDue();
    }
    this.tickNo++;
    for (const n of this.nodes.values()) {
      if (n.raft === undefined) {
        if (n.restartAtTick <= this.tickNo && n.restartAtTick > 0) this.start(n);
        continue;
      }
      n.raft.tick();
      this.process(n);
    }
  }

  // ------------------------------------------------------------ host behaviour

  process(n: SimNode): void {
    const raft = n.raft!;
    while (raft.hasReady()) {
      const rd = raft.ready();
      if (this.trace !== undefined) this.traceReady(n, rd);
      this.persist(n, rd);
      for (const m of rd.messages) this.send(m);
      this.apply(n, rd);
      raft.advance(rd);
    }
  }

  private traceReady(n: SimNode, rd: Ready): void {
    if (!rd.softState && !rd.hardState && !rd.entries.length && !rd.snapshot && !rd.committedEntries.length) return;
    const st = n.raft!.status();
    const ents = rd.entries.map((e) => `${e.index}/${e.term}${e.type === 'conf' ? 'C' : ''}`).join(' ');
    const snap = rd.snapshot ? ` snap@${rd.snapshot.meta.index}` : '';
    const applied = rd.committedEntries.map((e) => e.index).join(',');
    this.trace!(
      `t${this.tickNo} n${n.id} ${st.role} term${st.term} lead${st.lead} v${JSON.stringify(st.conf.voters)} l${JSON.stringify(st.conf.learners)} ` +
        `commit${st.commit} last${st.lastIndex} append[${ents}]${snap} apply[${applied}]`,
    );
  }

  private persist(n: SimNode, rd: Ready): void {
    const raft = n.raft!;
    if (rd.softState?.role === 'leader') this.checkNewLeader(n);
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      const prev = n.storage.hardState().commit;
      n.storage.setHardState(rd.hardState);
      for (let i = prev + 1; i <= rd.hardState.commit; i++) {
        const t = raft.termAt(i);
        if (t === undefined) continue;
        const known = this.committedTerm[i];
        if (known !== undefined && known !== t) this.fail(`index ${i} committed with terms ${known} and ${t}`);
        this.committedTerm[i] = t;
      }
      this.maxCommitted = Math.max(this.maxCommitted, rd.hardState.commit);
    }
  }

  private apply(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) this.installSnapshot(n, rd.snapshot);
    for (const e of rd.committedEntries) this.applyEntry(n, e);
    for (const rs of rd.readStates) {
      const ctx = rs.ctx as { minIndex: number };
      if (rs.index < ctx.minIndex) this.fail(`node ${n.id} read index ${rs.index} < ${ctx.minIndex} committed before the read`);
      this.stats.reads++;
    }
  }

  private installSnapshot(n: SimNode, s: Snapshot): void {
    const app = decodeApp(s.data);
    const known = this.appliedHash[app.index];
    if (known !== undefined && known !== app.hash) this.fail(`node ${n.id} installed a divergent snapshot at ${app.index}`);
    n.app = app;
  }

  private applyEntry(n: SimNode, e: Entry): void {
    if (e.index <= n.app.index) return; // covered by the snapshot the app restarted from
    if (e.index !== n.app.index + 1) this.fail(`node ${n.id} applies ${e.index} after ${n.app.index}`);
    const key = `${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`;
    const known = this.appliedKey[e.index];
    if (known !== undefined && known !== key) this.fail(`node ${n.id} applied ${key} at ${e.index}, another node applied ${known}`);
    const hash = mix(n.app.hash, e.term, e.data);
    if (known === undefined) {
      this.appliedKey[e.index] = key;
      this.appliedHash[e.index] = hash;
      this.stats.applied++;
    }
    n.app = { index: e.index, hash };
  }

  /** Election safety + leader completeness, checked when a node becomes leader. */
  private checkNewLeader(n: SimNode): void {
    const raft = n.raft!;
    const term = raft.status().term;
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== n.id) this.fail(`two leaders in term ${term}: ${prev} and ${n.id}`);
    this.leaderOfTerm.set(term, n.id);
    this.stats.elections++;
    const first = raft.status().firstIndex;
    for (let i = Math.max(1, first); i < this.committedTerm.length; i++) {
      const t = this.committedTerm[i];
      if (t !== undefined && raft.termAt(i) !== t) this.fail(`leader ${n.id} of term ${term} lacks committed entry ${i}`);
    }
  }

  // ------------------------------------------------------------ client and admin actions

  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft?.status().role === 'leader');
  }

  propose(): { index: number; term: number; key: string } | undefined {
    const live = [...this.nodes.values()].filter((n) => n.raft !== undefined);
    if (live.length === 0) return undefined;
    const n = live[this.rand(live.length)]!;
    const data = enc.encode(`p${this.proposalSeq++}`);
    const res = n.raft!.propose(data);
    this.process(n);
    if (!res.ok) return undefined;
    return { index: res.index, term: res.term, key: `${res.term}/normal/${Buffer.from(data).toString('hex')}` };
  }

  isApplied(p: { index: number; key: string }): boolean {
    return this.appliedKey[p.index] === p.key;
  }

  read(): void {
    for (const n of this.leaders()) {
      n.raft!.readIndex({ minIndex: this.maxCommitted });
      this.process(n);
    }
  }

  confChange(): void {
    const [l] = this.leaders();
    if (l === undefined) return;
    const conf = l.raft!.status().conf;
    const all = [...this.nodes.keys()];
    const outsiders = all.filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
    const options: ConfChange[] = [];
    for (const id of outsiders) options.push({ op: 'addLearner', nodeId: id });
    for (const id of conf.learners) options.push({ op: 'addVoter', nodeId: id }, { op: 'removeNode', nodeId: id });
    if (conf.voters.length > 3) for (const id of conf.voters) options.push({ op: 'removeNode', nodeId: id });
    if (options.length === 0) return;
    const cc = options[this.rand(options.length)]!;
    const res = l.raft!.proposeConfChange(cc);
    this.trace?.(`t${this.tickNo} CONF n${l.id} ${cc.op} ${cc.nodeId} → ${res.ok ? 'ok' : res.reason}`);
    if (res.ok) this.stats.confChanges++;
    this.process(l);
  }

  transfer(): void {
    const [l] = this.leaders();
    if (l === undefined) return;
    const voters = l.raft!.status().conf.voters.filter((v) => v !== l.id);
    if (voters.length === 0) return;
    const to = voters[this.rand(voters.length)]!;
    const res = l.raft!.transferLeadership(to);
    this.trace?.(`t${this.tickNo} TRANSFER n${l.id} → ${to} ${res.ok ? 'ok' : res.reason}`);
    this.process(l);
  }

  snapshot(): void {
    const live = [...this.nodes.values()].filter((n) => n.raft !== undefined);
    if (live.length === 0) return;
    const n = live[this.rand(live.length)]!;
    const raft = n.raft!;
    const snapIndex = n.storage.snapshot().meta.index;
    if (n.app.index < snapIndex + 3) return;
    const term = raft.termAt(n.app.index);
    if (term === undefined) return;
    n.storage.createSnapshot({ index: n.app.index, term, conf: raft.confStateAt(n.app.index) }, encodeApp(n.app));
    const keep = this.rand(4);
    this.trace?.(`t${this.tickNo} SNAPSHOT n${n.id} at ${n.app.index} keep ${keep}`);
    n.storage.compact(Math.max(n.storage.firstIndex() - 1, n.app.index - keep));
  }

  // ------------------------------------------------------------ whole-cluster checks

  /** Log matching (§5.3): same index and term ⇒ identical entries up to there. */
  checkLogMatching(): void {
    const live = [...this.nodes.values()].filter((n) => n.raft !== undefined);
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) this.checkPair(live[a]!.raft!, live[b]!.raft!);
    }
  }

  private checkPair(x: RaftNode, y: RaftNode): void {
    const lo = Math.max(x.status().firstIndex, y.status().firstIndex);
    const hi = Math.min(x.status().lastIndex, y.status().lastIndex);
    if (lo > hi) return;
    const ex = x.log.slice(lo, hi + 1, Infinity) ?? [];
    const ey = y.log.slice(lo, hi + 1, Infinity) ?? [];
    let matchedFrom = -1;
    for (let k = ex.length - 1; k >= 0; k--) {
      if (ex[k]!.term === ey[k]!.term) {
        matchedFrom = k;
        break;
      }
    }
    for (let k = 0; k <= matchedFrom; k++) {
      const p = ex[k]!;
      const q = ey[k]!;
      if (p.term !== q.term || p.type !== q.type || Buffer.compare(p.data, q.data) !== 0) {
        this.fail(`log matching: nodes ${x.id},${y.id} differ at ${p.index} but match at ${ex[matchedFrom]!.index}`);
      }
    }
  }
}

function before(a: InFlight, b: InFlight): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function encodeApp(app: App): Uint8Array {
  return enc.encode(JSON.stringify(app));
}

function decodeApp(data: Uint8Array): App {
  return JSON.parse(new TextDecoder().decode(data)) as App;
}
