/**
 * Pure codecs of the chunkserver:
 *  - Raft messages ↔ the opaque payload of a RAFT_MESSAGE envelope;
 *  - copyset commands (the data of a normal Raft entry);
 *  - snapshot data (the list of chunk files a copyset snapshot covers).
 * Big-endian; 64-bit values are safe integers. Decoders return undefined
 * for a malformed body (the transport drops it: Raft tolerates loss).
 *
 * Raft message: u8 kind | u32 from | u32 to | u64 term | fields by kind:
 *   AppendEntries      u64 prevIndex, u64 prevTerm, u64 commit, u32 n, n × entry
 *                      entry = u64 index, u64 term, u8 type (0 normal, 1 conf), u32 len, data
 *   AppendEntriesResp  u64 index, u8 reject, u64 hintIndex, u64 hintTerm
 *   RequestVote/PreVote  u64 lastIndex, u64 lastTerm, u8 transfer
 *   *VoteResp          u8 reject
 *   Heartbeat          u64 commit, u64 round, u64 sentTick
 *   HeartbeatResp      u64 round, u64 sentTick
 *   InstallSnapshot    u32 metaLen, meta (JSON SnapshotMeta), u32 dataLen, data
 *   TimeoutNow         —
 */
import type { Entry, Message, MessageType, SnapshotMeta } from '../raft/index.js';

const KINDS: readonly MessageType[] = [
  'AppendEntries', 'AppendEntriesResp', 'RequestVote', 'PreVote', 'RequestVoteResp', 'PreVoteResp',
  'Heartbeat', 'HeartbeatResp', 'InstallSnapshot', 'TimeoutNow',
];

class Writer {
  readonly parts: Buffer[] = [];
  private cur = Buffer.allocUnsafe(64);
  private pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.flush();
    this.cur = Buffer.allocUnsafe(Math.max(64, n));
  }
  private flush(): void {
    if (this.pos === 0) return;
    this.parts.push(this.cur.subarray(0, this.pos));
    this.cur = this.cur.subarray(this.pos); // the pushed bytes must not be overwritten
    this.pos = 0;
  }
  u8(v: number): this {
    this.room(1);
    this.cur[this.pos++] = v;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.cur.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.room(8);
    this.cur.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.pos);
    this.cur.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
    return this;
  }
  /** Length-prefixed bytes, appended without copying. */
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    this.flush();
    if (b.length > 0) this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.length));
    return this;
  }
  done(): Buffer[] {
    this.flush();
    return this.parts;
  }
}

class Reader {
  pos = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new RangeError('short');
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.b.readUInt32BE(this.pos) * 0x1_0000_0000 + this.b.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (!Number.isSafeInteger(v)) throw new RangeError('u64 too big');
    return v;
  }
  /** Copies: entries outlive the receive buffer (they stay in the in-memory log). */
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = new Uint8Array(n);
    out.set(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  end(): boolean {
    return this.pos === this.b.length;
  }
}

export function encodeRaftMessage(m: Message): Buffer[] {
  const w = new Writer().u8(KINDS.indexOf(m.type)).u32(m.from).u32(m.to).u64(m.term);
  switch (m.type) {
    case 'AppendEntries':
      w.u64(m.prevIndex).u64(m.prevTerm).u64(m.commit).u32(m.entries.length);
      for (const e of m.entries) w.u64(e.index).u64(e.term).u8(e.type === 'conf' ? 1 : 0).bytes(e.data);
      break;
    case 'AppendEntriesResp':
      w.u64(m.index).u8(m.reject ? 1 : 0).u64(m.hintIndex).u64(m.hintTerm);
      break;
    case 'RequestVote':
    case 'PreVote':
      w.u64(m.lastIndex).u64(m.lastTerm).u8(m.transfer ? 1 : 0);
      break;
    case 'RequestVoteResp':
    case 'PreVoteResp':
      w.u8(m.reject ? 1 : 0);
      break;
    case 'Heartbeat':
      w.u64(m.commit).u64(m.round).u64(m.sentTick);
      break;
    case 'HeartbeatResp':
      w.u64(m.round).u64(m.sentTick);
      break;
    case 'InstallSnapshot':
      w.bytes(Buffer.from(JSON.stringify(m.snapshot.meta))).bytes(m.snapshot.data);
      break;
    case 'TimeoutNow':
      break;
  }
  return w.done();
}

export function decodeRaftMessage(b: Buffer): Message | undefined {
  try {
    const r = new Reader(b);
    const type = KINDS[r.u8()];
    if (type === undefined) return undefined;
    const base = { from: r.u32(), to: r.u32(), term: r.u64() };
    const m = decodeFields(type, base, r);
    return r.end() ? m : undefined;
  } catch {
    return undefined;
  }
}

type Base = { from: number; to: number; term: number };

function decodeFields(type: MessageType, base: Base, r: Reader): Message {
  switch (type) {
    case 'AppendEntries': {
      const prevIndex = r.u64();
      const prevTerm = r.u64();
      const commit = r.u64();
      const n = r.u32();
      const entries: Entry[] = [];
      for (let k = 0; k < n; k++) entries.push({ index: r.u64(), term: r.u64(), type: r.u8() === 1 ? 'conf' : 'normal', data: r.bytes() });
      return { type, ...base, prevIndex, prevTerm, commit, entries };
    }
    case 'AppendEntriesResp':
      return { type, ...base, index: r.u64(), reject: r.u8() === 1, hintIndex: r.u64(), hintTerm: r.u64() };
    case 'RequestVote':
    case 'PreVote':
      return { type, ...base, lastIndex: r.u64(), lastTerm: r.u64(), transfer: r.u8() === 1 };
    case 'RequestVoteResp':
    case 'PreVoteResp':
      return { type, ...base, reject: r.u8() === 1 };
    case 'Heartbeat':
      return { type, ...base, commit: r.u64(), round: r.u64(), sentTick: r.u64() };
    case 'HeartbeatResp':
      return { type, ...base, round: r.u64(), sentTick: r.u64() };
    case 'InstallSnapshot': {
      const meta = JSON.parse(Buffer.from(r.bytes()).toString('utf8')) as SnapshotMeta;
      return { type, ...base, snapshot: { meta, data: r.bytes() } };
    }
    case 'TimeoutNow':
      return { type, ...base };
  }
}

// ------------------------------------------------------------ copyset commands

/** A state-machine command carried by a normal Raft entry. */
export type CopysetCommand =
  | { readonly op: 'write'; readonly chunkId: number; readonly offset: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly op: 'delete'; readonly chunkId: number; readonly seq: number };

const OP_WRITE = 1;
const OP_DELETE = 2;

/** u8 op | u64 chunkId | u64 seq | (write) u32 offset | data. One copy of the data (the entry owns it). */
export function encodeCommand(c: CopysetCommand): Uint8Array {
  const dataLen = c.op === 'write' ? c.data.length : 0;
  const b = Buffer.allocUnsafe(17 + (c.op === 'write' ? 4 : 0) + dataLen);
  b[0] = c.op === 'write' ? OP_WRITE : OP_DELETE;
  b.writeBigUInt64BE(BigInt(c.chunkId), 1);
  b.writeBigUInt64BE(BigInt(c.seq), 9);
  if (c.op === 'write') {
    b.writeUInt32BE(c.offset, 17);
    b.set(c.data, 21);
  }
  return b;
}

/** undefined for an empty entry (a leader's no-op) or a malformed one. */
export function decodeCommand(data: Uint8Array): CopysetCommand | undefined {
  if (data.length < 17) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const chunkId = Number(b.readBigUInt64BE(1));
  const seq = Number(b.readBigUInt64BE(9));
  if (b[0] === OP_DELETE) return { op: 'delete', chunkId, seq };
  if (b[0] !== OP_WRITE || b.length < 21) return undefined;
  return { op: 'write', chunkId, seq, offset: b.readUInt32BE(17), data: b.subarray(21) };
}

// ------------------------------------------------------------ snapshot data

/**
 * What a copyset snapshot holds: the chunk files as of the snapshot's
 * index (ids and metadata), not their bytes. A catching-up peer fetches
 * the files from a member whose applied index is ≥ the snapshot's.
 */
export interface SnapshotListing {
  readonly chunkSizeBytes: number;
  readonly chunks: ReadonlyArray<{ readonly chunkId: number; readonly chunkSeq: number; readonly snapshotSeq: number }>;
}

export function encodeListing(l: SnapshotListing): Uint8Array {
  return Buffer.from(JSON.stringify(l), 'utf8');
}

export function decodeListing(data: Uint8Array): SnapshotListing | undefined {
  try {
    const v = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8')) as SnapshotListing;
    return typeof v.chunkSizeBytes === 'number' && Array.isArray(v.chunks) ? v : undefined;
  } catch {
    return undefined;
  }
}
