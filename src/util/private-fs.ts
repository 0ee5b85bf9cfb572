/**
 * Modes for what the daemon creates: LUN images, state files and their
 * directories hold other people's disks, so they are the owner's alone,
 * whatever the umask (under umask 000 Node's defaults would be 0666/0777).
 *
 * Only what we create gets these modes. A directory or file that already
 * exists (a disk image the user pointed at, a data dir made beforehand) keeps
 * the mode its owner gave it.
 */
import fs from 'node:fs';
import { mkdir, chmod } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** mkdir -p with every directory it creates set to 0700; existing ones are left alone. */
export async function mkdirPrivate(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first !== undefined) for (const d of createdChain(first, dir)) await chmod(d, PRIVATE_DIR_MODE);
}

export function mkdirPrivateSync(dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first !== undefined) for (const d of createdChain(first, dir)) fs.chmodSync(d, PRIVATE_DIR_MODE);
}

/** `first` (the top directory mkdir created) down to `leaf`. */
function createdChain(first: string, leaf: string): string[] {
  const top = resolve(first);
  const chain: string[] = [];
  for (let d = resolve(leaf); ; d = dirname(d)) {
    chain.unshift(d);
    if (d === top || d === dirname(d)) break;
  }
  return chain;
}
