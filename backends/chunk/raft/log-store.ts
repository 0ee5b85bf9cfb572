/**
 * Durable Raft log for the host side: one directory per Raft group.
 *
 *   log-<firstIndex, 20 digits>.seg   segments of records, rolled at segmentBytes
 *   hardstate                         {term, vote, commit}, replaced atomically
 *   snapshot                          snapshot meta + opaque data, replaced atomically
 *
 * Record = u32 payloadLength | u32 crc32c(payload) | payload, all big-endian;
 * payload = u64 index | u64 term | u8 type (0 normal, 1 conf) | data.
 *
 * Group commit: append() queues; one drain writes every queued batch with a
 * single writev and one fdatasync, then resolves all their promises. Calls
 * are applied in call order (appends, hard-state saves, snapshots,
 * compactions), so "await append(entries) then saveHardState(hs)" gives the
 * Ready ordering of types.ts.
 *
 * Recovery: on open, the last segment is scanned and truncated at the first
 * short or CRC-failing record (a torn tail from a crash mid-write); a bad
 * record in an older segment is real corruption and open() rejects.
 *
 * Errors: methods reject with the underlying fs error (ENOSPC, EIO, ...);
 * after a failed write the store is unusable (the caller should stop the
 * group: Raft cannot continue without a durable log).
 */
import { open as openFile, readFile, readdir, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicReplace, syncDirectory } from '../../../src/util/atomic-replace.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../../../src/util/private-fs.js';
import { MemoryStorage } from './storage.js';
import type { Entry, HardState, Snapshot } from './types.js';

const HEADER = 8;
const FIXED = 17; // index + term + type
const SEG_RE = /^log-(\d{20})\.seg$/;

export interface LogStoreOptions {
  /** Roll to a new segment after this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number;
}

export interface LoadedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  /** Stored entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Bytes cut from a torn tail during open (0 if the log was clean). */
  readonly truncatedBytes: number;
}

interface Segment {
  readonly first: number;
  readonly path: string;
  /** offsets[k] = file offset of entry first+k; size = end of last record. */
  offsets: number[];
  size: number;
}

type Op =
  | { kind: 'append'; entries: readonly Entry[] }
  | { kind: 'hardState'; hs: HardState }
  | { kind: 'snapshot'; snap: Snapshot; replaceLog: boolean }
  | { kind: 'compact'; index: number };

interface Queued {
  readonly op: Op;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export function encodeRecord(e: Entry): Buffer {
  const rec = Buffer.allocUnsafe(HEADER + FIXED + e.data.length);
  rec.writeUInt32BE(FIXED + e.data.length, 0);
  writeU64(rec, HEADER, e.index);
  writeU64(rec, HEADER + 8, e.term);
  rec[HEADER + 16] = e.type === 'conf' ? 1 : 0;
  rec.set(e.data, HEADER + FIXED);
  rec.writeUInt32BE(crc32c(rec, HEADER, rec.length), 4);
  return rec;
}

/** Parse records from buf; stops at the first torn/corrupt one and reports where. */
export function decodeRecords(buf: Buffer): { entries: Entry[]; offsets: number[]; goodBytes: number } {
  const entries: Entry[] = [];
  const offsets: number[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = buf.readUInt32BE(pos);
    if (len < FIXED || pos + HEADER + len > buf.length) break;
    if (crc32c(buf, pos + HEADER, pos + HEADER + len) !== buf.readUInt32BE(pos + 4)) break;
    const p = pos + HEADER;
    const type = buf[p + 16] === 1 ? 'conf' : 'normal';
    entries.push({ index: readU64(buf, p), term: readU64(buf, p + 8), type, data: Uint8Array.from(buf.subarray(p + FIXED, p + len)) });
    offsets.push(pos);
    pos += HEADER + len;
  }
  return { entries, offsets, goodBytes: pos };
}

export class LogStore {
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  private active: FileHandle | undefined;
  private activeSeg: Segment | undefined;
  private queue: Queued[] = [];
  private draining = false;
  private failed: unknown;

  private constructor(
    readonly dir: string,
    opts: LogStoreOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? 64 << 20;
  }

  /** Open (creating the directory if needed) and recover; see LoadedState. */
  static async open(dir: string, opts: LogStoreOptions = {}): Promise<{ store: LogStore; state: LoadedState }> {
    await mkdirPrivate(dir);
    const store = new LogStore(dir, opts);
    const state = await store.recover();
    return { store, state };
  }

  /** Seed the core's in-memory storage from a recovered state. */
  static toMemoryStorage(state: LoadedState): MemoryStorage {
    const m = new MemoryStorage();
    if (state.snapshot !== undefined) m.applySnapshot(state.snapshot);
    m.append(state.entries);
    m.setHardState(state.hardState);
    return m;
  }

  lastIndex(): number {
    const s = this.segments[this.segments.length - 1];
    return s === undefined ? 0 : s.first + s.offsets.length - 1;
  }

  /** Durably append; entries with index ≤ lastIndex replace the stored suffix from entries[0].index. */
  append(entries: readonly Entry[]): Promise<void> {
    return entries.length === 0 ? Promise.resolve() : this.enqueue({ kind: 'append', entries });
  }

  saveHardState(hs: HardState): Promise<void> {
    return this.enqueue({ kind: 'hardState', hs });
  }

  /**
   * Durably record a snapshot. replaceLog=true (a snapshot received from
   * the leader, Ready.snapshot) also discards the whole stored log;
   * otherwise (a snapshot the app took) the log is kept until compact().
   */
  saveSnapshot(snap: Snapshot, replaceLog: boolean): Promise<void> {
    return this.enqueue({ kind: 'snapshot', snap, replaceLog });
  }

  /** Delete whole segments holding only entries ≤ index (a snapshot must cover them). */
  compact(index: number): Promise<void> {
    return this.enqueue({ kind: 'compact', index });
  }

  async close(): Promise<void> {
    while (this.draining) await new Promise((r) => setImmediate(r));
    await this.active?.close();
    this.active = undefined;
    this.activeSeg = undefined;
  }

  // ------------------------------------------------------------ recovery

  private async recover(): Promise<LoadedState> {
    const hardState = await readJson<HardState>(join(this.dir, 'hardstate')) ?? { term: 0, vote: 0, commit: 0 };
    const snapshot = await this.readSnapshot();
    const names = (await readdir(this.dir)).filter((n) => SEG_RE.test(n)).sort();
    const entries: Entry[] = [];
    let truncatedBytes = 0;
    for (let k = 0; k < names.length; k++) {
      const path = join(this.dir, names[k]!);
      const buf = await readFile(path);
      const rec = decodeRecords(buf);
      const isLast = k === names.length - 1;
      if (rec.goodBytes < buf.length) {
        if (!isLast) throw new Error(`raft log-store: corrupt record in ${path} at offset ${rec.goodBytes}`);
        truncatedBytes = buf.length - rec.goodBytes;
        const fh = await openFile(path, 'r+');
        await fh.truncate(rec.goodBytes);
        await fh.datasync();
        await fh.close();
      }
      const first = Number(SEG_RE.exec(names[k]!)![1]);
      if (rec.entries.length === 0 && isLast && k > 0) {
        await rm(path);
        continue;
      }
      this.segments.push({ first, path, offsets: rec.offsets, size: rec.goodBytes });
      for (const e of rec.entries) entries.push(e);
    }
    const after = snapshot?.meta.index ?? 0;
    return { hardState, snapshot, entries: entries.filter((e) => e.index > after), truncatedBytes };
  }

  private async readSnapshot(): Promise<Snapshot | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(join(this.dir, 'snapshot'));
    } catch {
      return undefined;
    }
    const metaLen = buf.readUInt32BE(0);
    const meta = JSON.parse(buf.subarray(4, 4 + metaLen).toString('utf8')) as Snapshot['meta'];
    return { meta, data: Uint8Array.from(buf.subarray(4 + metaLen)) };
  }

  // ------------------------------------------------------------ the write queue

  private enqueue(op: Op): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Group commit: everything queued while the previous sync ran goes out in one write + one fdatasync. */
  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        await this.runBatch(batch.map((q) => q.op));
        for (const q of batch) q.resolve();
      } catch (e) {
        this.failed = e;
        for (const q of [...batch, ...this.queue.splice(0)]) q.reject(e);
      }
    }
    this.draining = false;
  }

  private async runBatch(ops: Op[]): Promise<void> {
    let pending: Buffer[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const seg = this.segments[this.segments.length - 1]!;
      const bytes = pending.reduce((n, b) => n + b.length, 0);
      await this.active!.writev(pending, seg.size - bytes);
      await this.active!.datasync();
      pending = [];
    };
    for (const op of ops) {
      if (op.kind !== 'append') {
        await flush(); // keep call order: entries before a following hard state
        await this.runMeta(op);
        continue;
      }
      const first = op.entries[0]!.index;
      if (first <= this.lastIndex()) {
        await flush();
        await this.truncateFrom(first);
      }
      for (const e of op.entries) {
        let seg = this.segments[this.segments.length - 1];
        if (seg === undefined || seg.size >= this.segmentBytes) {
          await flush();
          seg = await this.roll(e.index);
        }
        if (e.index !== seg.first + seg.offsets.length) throw new Error(`raft log-store: gap before ${e.index}`);
        if (this.activeSeg !== seg) await this.openActive(seg);
        const rec = encodeRecord(e);
        seg.offsets.push(seg.size);
        seg.size += rec.length;
        pending.push(rec);
      }
    }
    await flush();
  }

  private async runMeta(op: Exclude<Op, { kind: 'append' }>): Promise<void> {
    switch (op.kind) {
      case 'hardState':
        return atomicReplace(join(this.dir, 'hardstate'), JSON.stringify(op.hs));
      case 'snapshot': {
        const meta = Buffer.from(JSON.stringify(op.snap.meta));
        const head = Buffer.alloc(4);
        head.writeUInt32BE(meta.length, 0);
        await atomicReplace(join(this.dir, 'snapshot'), Buffer.concat([head, meta, op.snap.data]));
        if (op.replaceLog) await this.dropSegments(() => true);
        return;
      }
      case 'compact':
        return this.dropSegments((seg, next) => next !== undefined && next.first - 1 <= op.index);
    }
  }

  private async dropSegments(drop: (seg: Segment, next: Segment | undefined) => boolean): Promise<void> {
    const keep: Segment[] = [];
    for (let k = 0; k < this.segments.length; k++) {
      const seg = this.segments[k]!;
      if (!drop(seg, this.segments[k + 1])) {
        keep.push(seg);
        continue;
      }
      if (seg === this.activeSeg) {
        await this.active?.close();
        this.active = undefined;
        this.activeSeg = undefined;
      }
      await rm(seg.path, { force: true });
    }
    this.segments = keep;
  }

  private async truncateFrom(index: number): Promise<void> {
    while (this.segments.length > 0 && this.segments[this.segments.length - 1]!.first >= index) {
      await this.dropSegments((s) => s === this.segments[this.segments.length - 1]);
    }
    const seg = this.segments[this.segments.length - 1];
    if (seg === undefined) return;
    const k = index - seg.first;
    if (k >= seg.offsets.length) return;
    seg.size = seg.offsets[k]!;
    seg.offsets.length = k;
    await this.openActive(seg);
    await this.active!.truncate(seg.size);
  }

  private async roll(first: number): Promise<Segment> {
    const seg: Segment = { first, path: join(this.dir, `log-${String(first).padStart(20, '0')}.seg`), offsets: [], size: 0 };
    this.segments.push(seg);
    await this.openActive(seg);
    await syncDirectory(this.dir);
    return seg;
  }

  private async openActive(seg: Segment): Promise<void> {
    await this.active?.close();
    this.active = await openFile(seg.path, seg.size === 0 ? 'w+' : 'r+', PRIVATE_FILE_MODE);
    this.activeSeg = seg;
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), off);
  buf.writeUInt32BE(v >>> 0, off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x1_0000_0000 + buf.readUInt32BE(off + 4);
}
