/**
 * FileStore: the whole key space in one JSON file, for a one-machine setup
 * (a single MDS, no etcd). Each commit replaces the file with atomicReplace
 * (temp, fsync, rename, fsync of the directory), so a crash leaves either the
 * old or the new state, never a torn one. Commits are
 * serialised; the in-memory map changes only after the rename succeeded.
 * `<file>.lock` (O_EXCL, holds the owner's pid) keeps a second MDS off the
 * same file; a lock left by a dead process is taken over.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { atomicReplace } from '../../../src/util/atomic-replace.js';
import { mkdirPrivate } from '../../../src/util/private-fs.js';
import { StoreError, type KvOp, type KvStore } from './store.js';

export class FileStore implements KvStore {
  private data = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(readonly file: string) {}

  /** Open (or create) the store at `file`; its directory is created if needed. */
  static async open(file: string): Promise<FileStore> {
    const s = new FileStore(file);
    await mkdirPrivate(path.dirname(file));
    await takeLock(`${file}.lock`);
    try {
      const obj = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, string>;
      s.data = new Map(Object.entries(obj));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`${file}: ${(e as Error).message}`);
    }
    return s;
  }

  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }

  async list(prefix: string): Promise<Array<[string, string]>> {
    return [...this.data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  commit(ops: readonly KvOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError(`${this.file}: store closed`));
    const run = this.chain.then(() => this.apply(ops));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await fs.rm(`${this.file}.lock`, { force: true });
  }

  private async apply(ops: readonly KvOp[]): Promise<void> {
    const next = new Map(this.data);
    for (const o of ops) {
      if (o.op === 'put') next.set(o.key, o.value);
      else if (o.op === 'delete') next.delete(o.key);
      else for (const k of [...next.keys()]) if (k.startsWith(o.prefix)) next.delete(k);
    }
    try {
      await atomicReplace(this.file, JSON.stringify(Object.fromEntries(next)), { mode: 0o600 });
    } catch (e) {
      throw new StoreError(`${this.file}: ${(e as Error).message}`);
    }
    this.data = next;
  }
}

async function takeLock(lock: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError(`${lock}: ${(e as Error).message}`);
    }
    const owner = Number(await fs.readFile(lock, 'utf8').catch(() => '0'));
    if (owner > 0 && isAlive(owner)) throw new StoreError(`${lock}: held by pid ${owner}`);
    await fs.rm(lock, { force: true });
  }
  throw new StoreError(`${lock}: could not take the lock`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
