/**
 * ChunkStore: the chunk files of every copyset on this chunkserver.
 *
 *   <dataDir>/chunks/<copysetId>/<chunkId>   header (chunk-format.ts) + data
 *   <dataDir>/chunkpool/                     pre-allocated files (chunk-pool.ts)
 *
 * Contract:
 *  - read() of an unknown chunk, or of bytes never written, returns zeroes;
 *  - write() creates the chunk from the pool on first use; writes are NOT
 *    synced here: the copyset's Raft log makes them durable and syncCopyset()
 *    is called before a snapshot lets the log be compacted (copyset.ts
 *    "Durability");
 *  - delete() returns the file to the pool; it waits for in-flight reads
 *    of that chunk, so a reader never sees a recycled file.
 * Callers serialise write/delete per copyset (the Raft apply order); reads
 * may run concurrently with them. Buffers passed in are borrowed until the
 * call settles; buffers returned are owned by the caller.
 * Errors: fs errors (EIO, ENOSPC, ...) reject; offsets are validated by the
 * caller (RangeError here means a programmer error).
 */
import { open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { syncDirectory } from '../../../src/util/atomic-replace.js';
import { mkdirPrivate } from '../../../src/util/private-fs.js';
import { ChunkPool } from './chunk-pool.js';
import { CHUNK_HEADER_BYTES, decodeChunkHeader, encodeChunkHeader, freshMeta, type ChunkMeta } from './chunk-format.js';

export interface ChunkStoreOptions {
  readonly dataDir: string;
  /** Default 16 MiB. */
  readonly chunkSizeBytes?: number;
  /** Pre-allocated files to keep ready. Default 4. */
  readonly poolTarget?: number;
  readonly log?: Logger;
}

const MAX_OPEN_FILES = 1024;

interface OpenChunk {
  readonly key: string;
  readonly fh: FileHandle;
  meta: ChunkMeta;
  users: number;
  /** Evicted from the handle cache: acquirers must reopen. */
  closed?: boolean;
  /** Set while a delete waits for users to drain; later acquires wait on it. */
  deleting?: Promise<void>;
  drained?: () => void;
}

export class ChunkStore {
  readonly chunkSizeBytes: number;
  readonly fileBytes: number;
  private readonly open = new Map<string, Promise<OpenChunk | undefined>>();
  private readonly dirty = new Map<number, Set<string>>();
  private chunkFiles = 0;

  private constructor(
    private readonly dir: string,
    readonly pool: ChunkPool,
    chunkSizeBytes: number,
  ) {
    this.chunkSizeBytes = chunkSizeBytes;
    this.fileBytes = CHUNK_HEADER_BYTES + chunkSizeBytes;
  }

  static async open(o: ChunkStoreOptions): Promise<ChunkStore> {
    const chunkSizeBytes = o.chunkSizeBytes ?? 16 << 20;
    const dir = join(o.dataDir, 'chunks');
    const poolDir = join(o.dataDir, 'chunkpool');
    await mkdirPrivate(dir);
    await mkdirPrivate(poolDir);
    const pool = await ChunkPool.open({ dir: poolDir, fileBytes: CHUNK_HEADER_BYTES + chunkSizeBytes, target: o.poolTarget ?? 4, log: o.log });
    const store = new ChunkStore(dir, pool, chunkSizeBytes);
    for (const cs of await readdir(dir)) store.chunkFiles += (await readdir(join(dir, cs))).length;
    void pool.fill();
    return store;
  }

  /** Bytes held by chunk files (for heartbeats). */
  get usedBytes(): number {
    return this.chunkFiles * this.fileBytes;
  }

  get chunkCount(): number {
    return this.chunkFiles;
  }

  copysetDir(copysetId: number): string {
    return join(this.dir, String(copysetId));
  }

  private path(copysetId: number, chunkId: number): string {
    return join(this.copysetDir(copysetId), String(chunkId));
  }

  /** `length` bytes at `offset`; zeroes where nothing was written. */
  async read(copysetId: number, chunkId: number, offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    const buf = Buffer.alloc(length);
    await this.withChunk(copysetId, chunkId, false, async (c) => {
      if (c) await readFully(c.fh, buf, CHUNK_HEADER_BYTES + offset);
    });
    return buf;
  }

  /** Write `data` at `offset`, creating the chunk if needed; records `seq` as chunkSeq when newer. */
  async write(copysetId: number, chunkId: number, offset: number, data: Uint8Array, seq: number): Promise<void> {
    this.check(offset, data.length);
    await this.withChunk(copysetId, chunkId, true, async (c) => {
      await c!.fh.write(data, 0, data.length, CHUNK_HEADER_BYTES + offset);
      if (seq > c!.meta.chunkSeq) {
        c!.meta = { ...c!.meta, chunkSeq: seq };
        await c!.fh.write(encodeChunkHeader(c!.meta), 0, CHUNK_HEADER_BYTES, 0);
      }
    });
    this.markDirty(copysetId, chunkId);
  }

  /** Metadata of a chunk, undefined if it does not exist. */
  async info(copysetId: number, chunkId: number): Promise<ChunkMeta | undefined> {
    return this.withChunk(copysetId, chunkId, false, async (c) => c?.meta);
  }

  /** Delete a chunk (no-op if absent); its file goes back to the pool. */
  async delete(copysetId: number, chunkId: number): Promise<void> {
    const key = `${copysetId}/${chunkId}`;
    const c = await this.acquire(copysetId, chunkId, false);
    if (!c) return;
    let release!: () => void;
    c.deleting = new Promise<void>((r) => (release = r));
    c.users--;
    if (c.users > 0) await new Promise<void>((r) => (c.drained = r));
    this.open.delete(key);
    this.dirty.get(copysetId)?.delete(String(chunkId));
    await c.fh.close();
    await this.pool.give(this.path(copysetId, chunkId));
    this.chunkFiles--;
    release();
  }

  /** Chunk ids of a copyset (ascending). */
  async list(copysetId: number): Promise<number[]> {
    const names = await readdir(this.copysetDir(copysetId)).catch(() => [] as string[]);
    return names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  /** Raw bytes of a chunk file (header included) for snapshot transfer; undefined if absent. */
  async readRaw(copysetId: number, chunkId: number, fileOffset: number, length: number): Promise<Buffer | undefined> {
    const n = Math.max(0, Math.min(length, this.fileBytes - fileOffset));
    return this.withChunk(copysetId, chunkId, false, async (c) => {
      if (!c) return undefined;
      const buf = Buffer.alloc(n);
      await readFully(c.fh, buf, fileOffset);
      return buf;
    });
  }

  /** Write raw file bytes received in a snapshot transfer (creates the chunk; header bytes included). */
  async writeRaw(copysetId: number, chunkId: number, fileOffset: number, data: Buffer): Promise<void> {
    await this.withChunk(copysetId, chunkId, true, async (c) => {
      await c!.fh.write(data, 0, data.length, fileOffset);
      if (fileOffset === 0) c!.meta = decodeChunkHeader(data) ?? c!.meta;
    });
    this.markDirty(copysetId, chunkId);
  }

  /**
   * Make every write and delete of the copyset durable: fdatasync the chunk
   * files written since the last call, then fsync the copyset directory
   * (created and deleted names).
   */
  async syncCopyset(copysetId: number): Promise<void> {
    const names = [...(this.dirty.get(copysetId) ?? [])];
    this.dirty.delete(copysetId);
    for (const n of names) {
      await this.withChunk(copysetId, Number(n), false, async (c) => c?.fh.datasync());
    }
    await mkdirPrivate(this.copysetDir(copysetId));
    await syncDirectory(this.copysetDir(copysetId));
  }

  /** Delete every chunk of a copyset (the copyset left this chunkserver, or a snapshot replaces it). */
  async removeCopyset(copysetId: number): Promise<void> {
    for (const id of await this.list(copysetId)) await this.delete(copysetId, id);
    await rm(this.copysetDir(copysetId), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await this.pool.close();
    for (const p of this.open.values()) await (await p)?.fh.close().catch(() => undefined);
    this.open.clear();
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.chunkSizeBytes) {
      throw new RangeError(`chunk range [${offset}, +${length}) outside ${this.chunkSizeBytes}`);
    }
  }

  private markDirty(copysetId: number, chunkId: number): void {
    let s = this.dirty.get(copysetId);
    if (!s) this.dirty.set(copysetId, (s = new Set()));
    s.add(String(chunkId));
  }

  private async withChunk<T>(copysetId: number, chunkId: number, create: boolean, f: (c: OpenChunk | undefined) => Promise<T>): Promise<T> {
    const c = await this.acquire(copysetId, chunkId, create);
    try {
      return await f(c);
    } finally {
      if (c) this.release(c);
    }
  }

  private release(c: OpenChunk): void {
    c.users--;
    if (c.users > 0) return;
    if (c.drained) return c.drained();
    if (this.open.size > MAX_OPEN_FILES && !c.deleting) {
      // Bound open descriptors: close an idle chunk; a later acquire reopens it.
      c.closed = true;
      this.open.delete(c.key);
      void c.fh.close().catch(() => undefined);
    }
  }

  private async acquire(copysetId: number, chunkId: number, create: boolean): Promise<OpenChunk | undefined> {
    const key = `${copysetId}/${chunkId}`;
    for (;;) {
      let p = this.open.get(key);
      if (!p) {
        p = this.openChunk(copysetId, chunkId, create);
        this.open.set(key, p);
        p.then((c) => c === undefined && this.open.get(key) === p && this.open.delete(key), () => this.open.delete(key));
      }
      const c = await p;
      if (c?.deleting) {
        await c.deleting;
        continue;
      }
      if (c?.closed || (!c && create)) continue; // evicted, or raced with a reader that found it absent
      if (c) c.users++;
      return c;
    }
  }

  private async openChunk(copysetId: number, chunkId: number, create: boolean): Promise<OpenChunk | undefined> {
    const path = this.path(copysetId, chunkId);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      await mkdirPrivate(this.copysetDir(copysetId));
      await this.pool.take(path);
      this.chunkFiles++;
      fh = await open(path, 'r+');
      const meta = freshMeta(copysetId, chunkId, this.chunkSizeBytes);
      await fh.write(encodeChunkHeader(meta), 0, CHUNK_HEADER_BYTES, 0);
      return { key: `${copysetId}/${chunkId}`, fh, meta, users: 0 };
    }
    const head = Buffer.alloc(CHUNK_HEADER_BYTES);
    await readFully(fh, head, 0);
    return { key: `${copysetId}/${chunkId}`, fh, meta: decodeChunkHeader(head) ?? freshMeta(copysetId, chunkId, this.chunkSizeBytes), users: 0 };
  }
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) return; // short file: the rest stays zero
    done += bytesRead;
  }
}
