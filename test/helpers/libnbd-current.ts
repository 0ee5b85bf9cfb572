/**
 * A libnbd new enough for NBD extended headers (>= 1.20), built from
 * Debian's trixie source package by .ci/libnbd-current.sh beside bookworm's
 * libnbd 1.14 (which stays the default peer for every other test).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTool, toolEnv } from './run-tool.js';

export const CURRENT_LIBNBD_PREFIX = process.env.BG_LIBNBD_PREFIX ?? '/opt/blockgate-peers/libnbd';

/** Fails with the set-up step to take when the build is missing (never skips). */
export function currentNbdshPath(): string {
  const nbdsh = path.join(CURRENT_LIBNBD_PREFIX, 'bin', 'nbdsh');
  if (!fs.existsSync(nbdsh)) {
    throw new Error(`${nbdsh} not found: run 'bash .ci/libnbd-current.sh' (as root) to build libnbd >= 1.20 from Debian's source package`);
  }
  return nbdsh;
}

/** Runs a Python script in the current libnbd's nbdsh; resolves with its stdout. */
export async function currentNbdsh(script: string, timeoutMs = 60_000): Promise<string> {
  const nbdsh = currentNbdshPath();
  const pythonPath = path.join(CURRENT_LIBNBD_PREFIX, 'python');
  return (await runTool(nbdsh, ['-c', script], timeoutMs, undefined, { ...toolEnv, PYTHONPATH: pythonPath })).stdout;
}
