/**
 * Default filesystem locations, shared by the daemon and bgadm so that both
 * agree on where the admin socket is without any flag.
 *
 * Admin socket, first match wins:
 *   1. --admin-socket <path>            (both programs)
 *   2. $BLOCKGATE_ADMIN_SOCKET
 *   3. /run/blockgate/admin.sock         when running as root and /run is writable
 *   4. $XDG_RUNTIME_DIR/blockgate/admin.sock
 *   5. ~/.blockgate/admin.sock
 *
 * Data directory (LUN state such as persistent reservations, default sparse
 * files, chunkserver stores), first match wins:
 *   1. --data-dir / config `dataDir`
 *   2. /var/lib/blockgate                when running as root
 *   3. $XDG_DATA_HOME/blockgate
 *   4. ~/.local/share/blockgate
 * We deliberately avoid a cwd-relative default: a daemon's data must not
 * depend on the directory it happened to be started from.
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_SOCKET_ENV = 'BLOCKGATE_ADMIN_SOCKET';

/** What the defaults depend on; injectable so tests need not be root. */
export interface PathEnvironment {
  uid: number;
  env: Record<string, string | undefined>;
  home: string;
  isWritableDir(dir: string): boolean;
}

export function processPathEnvironment(): PathEnvironment {
  return {
    uid: typeof process.getuid === 'function' ? process.getuid() : -1,
    env: process.env,
    home: homedir(),
    isWritableDir(dir) {
      try {
        accessSync(dir, constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Default admin socket when neither flag nor env var is given (rules 3–5). */
export function defaultAdminSocketPath(pe: PathEnvironment = processPathEnvironment()): string {
  if (pe.uid === 0 && pe.isWritableDir('/run')) return '/run/blockgate/admin.sock';
  const xdg = pe.env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'blockgate', 'admin.sock');
  return join(pe.home, '.blockgate', 'admin.sock');
}

/** Rules 1–5. `flag` is the --admin-socket value, if any. */
export function resolveAdminSocketPath(flag: string | undefined, pe: PathEnvironment = processPathEnvironment()): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = pe.env[ADMIN_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return defaultAdminSocketPath(pe);
}

export function defaultDataDir(pe: PathEnvironment = processPathEnvironment()): string {
  if (pe.uid === 0) return '/var/lib/blockgate';
  const xdg = pe.env.XDG_DATA_HOME;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'blockgate');
  return join(pe.home, '.local', 'share', 'blockgate');
}
