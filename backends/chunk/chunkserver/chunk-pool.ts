/**
 * Pool of pre-allocated chunk files (Curve's chunkfilepool): the write path
 * takes a ready file by renaming it into place, so a first write to a chunk
 * pays neither block allocation nor zeroing.
 *
 *   <poolDir>/clean-<n>   allocated, all zeroes, durable: ready to take
 *   <poolDir>/dirty-<n>   returned by a delete: must be zeroed before reuse
 *   <poolDir>/tmp-<n>     being prepared (deleted on open: a crash leftover)
 *
 * A background filler keeps `target` clean files: it zeroes dirty files
 * first (fallocate ZERO_RANGE, else writing zeroes) and otherwise creates
 * new ones (fallocate, else ftruncate + zeroes), fdatasyncs each file and
 * renames it to clean-<n> only then, so a clean file never holds stale data
 * of a deleted chunk, even after a crash.
 *
 * Errors: take() rejects with the fs error (ENOSPC, EIO) when the pool is
 * empty and creating a file on demand fails; filler errors are logged and
 * retried on the next take.
 */
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fallocate, FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE } from '../../../src/util/libc.js';
import { PRIVATE_FILE_MODE } from '../../../src/util/private-fs.js';

export interface ChunkPoolOptions {
  readonly dir: string;
  /** Size of every pool file (header + chunk data). */
  readonly fileBytes: number;
  /** Clean files to keep ready. */
  readonly target: number;
  readonly log?: Logger;
}

const ZERO_PIECE = 1 << 20;

export class ChunkPool {
  private readonly clean: string[] = [];
  private readonly dirty: string[] = [];
  private seq = 0;
  private filling: Promise<void> | undefined;
  private closed = false;
  /** Takes that found no clean file (metrics). */
  misses = 0;

  private constructor(private readonly o: ChunkPoolOptions) {}

  static async open(o: ChunkPoolOptions): Promise<ChunkPool> {
    const p = new ChunkPool(o);
    for (const name of await readdir(o.dir)) {
      const m = /^(clean|dirty|tmp)-(\d+)$/.exec(name);
      if (!m) continue;
      p.seq = Math.max(p.seq, Number(m[2]) + 1);
      if (m[1] === 'tmp') await rm(join(o.dir, name), { force: true });
      else (m[1] === 'clean' ? p.clean : p.dirty).push(join(o.dir, name));
    }
    return p;
  }

  get cleanCount(): number {
    return this.clean.length;
  }

  /** Start (or continue) background filling; resolves when the pool is full. */
  fill(): Promise<void> {
    if (!this.filling) {
      this.filling = this.fillLoop()
        .catch((e: unknown) => this.o.log?.warn({ err: (e as Error).message }, 'chunk pool fill failed'))
        .finally(() => (this.filling = undefined));
    }
    return this.filling;
  }

  /**
   * Move a zeroed, allocated file to `dest` (the caller then writes the
   * header). Creates one on demand when the pool is empty.
   */
  async take(dest: string): Promise<void> {
    const src = this.clean.pop() ?? (this.misses++, await this.prepareNew());
    await rename(src, dest);
    void this.fill();
  }

  /** Give back a deleted chunk file: it is zeroed in the background, or dropped when the pool is full. */
  async give(path: string): Promise<void> {
    if (this.clean.length + this.dirty.length >= 2 * this.o.target) {
      await rm(path, { force: true });
      return;
    }
    const dest = join(this.o.dir, `dirty-${this.seq++}`);
    await rename(path, dest);
    this.dirty.push(dest);
    void this.fill();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
  }

  private async fillLoop(): Promise<void> {
    while (!this.closed && this.clean.length < this.o.target) {
      const d = this.dirty.pop();
      this.clean.push(d ? await this.recycle(d) : await this.prepareNew());
    }
  }

  private async recycle(path: string): Promise<string> {
    const fh = await open(path, 'r+');
    try {
      await zeroRange(fh, this.o.fileBytes);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const dest = join(this.o.dir, `clean-${this.seq++}`);
    await rename(path, dest);
    return dest;
  }

  private async prepareNew(): Promise<string> {
    const tmp = join(this.o.dir, `tmp-${this.seq++}`);
    const fh = await open(tmp, 'w+', PRIVATE_FILE_MODE);
    try {
      await allocate(fh, this.o.fileBytes);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const dest = join(this.o.dir, `clean-${this.seq++}`);
    await rename(tmp, dest);
    return dest;
  }
}

async function allocate(fh: FileHandle, bytes: number): Promise<void> {
  try {
    await fallocate(fh.fd, 0, 0, bytes);
  } catch {
    await fh.truncate(bytes);
    await writeZeroes(fh, bytes);
  }
}

async function zeroRange(fh: FileHandle, bytes: number): Promise<void> {
  try {
    await fallocate(fh.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, bytes);
  } catch {
    await writeZeroes(fh, bytes);
  }
}

async function writeZeroes(fh: FileHandle, bytes: number): Promise<void> {
  const zero = Buffer.alloc(Math.min(ZERO_PIECE, bytes));
  for (let off = 0; off < bytes; off += zero.length) {
    await fh.write(zero, 0, Math.min(zero.length, bytes - off), off);
  }
}
