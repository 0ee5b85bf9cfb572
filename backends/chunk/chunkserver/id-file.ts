/**
 * `<dataDir>/chunkserver.json`: the id the MDS gave this chunkserver. Losing
 * it after a crash would make the chunkserver register as a new one and
 * orphan its copysets, so it is replaced durably (atomicReplace).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicReplace } from '../../../src/util/atomic-replace.js';

export const ID_FILE = 'chunkserver.json';

export async function readChunkserverId(dataDir: string): Promise<number | undefined> {
  try {
    const v = JSON.parse(await readFile(join(dataDir, ID_FILE), 'utf8')) as { chunkserverId?: unknown };
    return typeof v.chunkserverId === 'number' ? v.chunkserverId : undefined;
  } catch {
    return undefined;
  }
}

export async function writeChunkserverId(dataDir: string, id: number): Promise<void> {
  await atomicReplace(join(dataDir, ID_FILE), JSON.stringify({ chunkserverId: id }), { mode: 0o600 });
}
