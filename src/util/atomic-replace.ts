/**
 * Durable file replacement, the one implementation every state file uses
 * (config, SCSI APTPL reservations, raft hard state and snapshot metadata,
 * the chunkserver id, the MDS file store):
 *
 *   open <dir>/.<name>.<pid>.<n>.tmp (O_CREAT|O_EXCL, mode) → write → fsync
 *   → rename over <path> → fsync <dir>
 *
 * rename(2) is atomic within one filesystem, so a reader or a crash sees the
 * old content or the new, never a torn file or none. The file fsync puts the
 * data on disk before the name points at it; the directory fsync makes the
 * rename itself durable (without it ext4/xfs may come back after a power cut
 * with the old name, or with neither). On failure the temp file is removed.
 *
 * A writer killed between open and rename leaves its temp behind: the first
 * replace of a path in a later process removes temps of writers that are no
 * longer running.
 */
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicReplaceOptions {
  /** Mode of the new file, set exactly (not narrowed by the umask). Default 0600. */
  mode?: number;
}

let tmpCounter = 0;
const swept = new Set<string>();

export async function atomicReplace(path: string, data: string | Uint8Array, opts: AtomicReplaceOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (!swept.has(path)) {
    swept.add(path);
    await removeStaleTemps(path);
  }
  const tmp = join(dir, `${tempPrefix(path)}${process.pid}.${++tmpCounter}.tmp`);
  const mode = opts.mode ?? 0o600;
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.chmod(mode); // the umask only narrows; 0600 under umask 0277 would be 0400
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
}

/** fsync a directory, making the creations, renames and unlinks in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Remove `.<name>.<pid>.<n>.tmp` files beside `path` whose writer is gone. Returns how many. */
export async function removeStaleTemps(path: string): Promise<number> {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return 0; // the directory does not exist (yet): open() reports it
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    // Our own pid: a write in flight in this process.
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isRunning(pid)) continue;
    await unlink(join(dirname(path), name)).then(() => removed++, () => undefined);
  }
  return removed;
}

function tempPrefix(path: string): string {
  return `.${basename(path)}.`;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}
