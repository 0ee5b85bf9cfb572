/**
 * Management-plane errors: one table, stable codes.
 *
 * Every error the registry can return to bgadm has a row here. The first
 * block mirrors tgt's `enum tgtadm_errno` (usr/tgtadm_error.h) one for one,
 * with the message text tgtadm prints for it (usr/tgtadm.c tgtadm_strerror)
 * so that scripts which grep tgtadm's stderr keep working. tgtadm exits with
 * EINVAL (22) for every error the daemon reports (ipc_mgmt_rsp), whatever the
 * tgtadm_errno was; we keep that exit status.
 *
 * The second block is bgadm's own client-side conditions (no daemon, bad
 * reply), with the exit status tgtadm has in the same situation.
 *
 * docs/errors.md documents every row; test/unit/cli/errors-doc.test.ts fails
 * when the two disagree. Codes are part of the public interface: never
 * renumber or rename, only add.
 */

/** tgtadm: `exit(EINVAL)` after printing the daemon's error. */
export const EXIT_EINVAL = 22;
/** tgtadm: unknown --mode / --op exit with status 1. */
export const EXIT_BAD_NAME = 1;
/** tgtadm returns the connect/send errno; with no daemon that is ENOTCONN. */
export const EXIT_ENOTCONN = 107;

export interface MgmtErrorInfo {
  /** tgt's tgtadm_errno value, or null for blockgate-only errors. */
  readonly tgtadmErrno: number | null;
  /** tgt's enum name, for cross-reference. */
  readonly tgtName: string | null;
  /** The text printed after "<program>: ". */
  readonly message: string;
  /** Process exit status of bgadm for this error. */
  readonly exitStatus: number;
}

/** The table. Order = tgtadm_errno order, then blockgate additions. */
export const MGMT_ERRORS = {
  BG_ERR_UNKNOWN: row(1, 'TGTADM_UNKNOWN_ERR', 'unknown error'),
  BG_ERR_NOMEM: row(2, 'TGTADM_NOMEM', 'out of memory'),
  BG_ERR_NO_DRIVER: row(3, 'TGTADM_NO_DRIVER', "can't find the driver"),
  BG_ERR_NO_TARGET: row(4, 'TGTADM_NO_TARGET', "can't find the target"),
  BG_ERR_NO_LUN: row(5, 'TGTADM_NO_LUN', "can't find the logical unit"),
  BG_ERR_NO_SESSION: row(6, 'TGTADM_NO_SESSION', "can't find the session"),
  BG_ERR_NO_CONNECTION: row(7, 'TGTADM_NO_CONNECTION', "can't find the connection"),
  BG_ERR_NO_BINDING: row(8, 'TGTADM_NO_BINDING', "can't find the binding"),
  BG_ERR_TARGET_EXISTS: row(9, 'TGTADM_TARGET_EXIST', 'this target already exists'),
  BG_ERR_LUN_EXISTS: row(10, 'TGTADM_LUN_EXIST', 'this logical unit number already exists'),
  BG_ERR_BINDING_EXISTS: row(11, 'TGTADM_BINDING_EXIST', 'this binding already exists'),
  BG_ERR_ACL_EXISTS: row(12, 'TGTADM_ACL_EXIST', 'this access control rule already exists'),
  BG_ERR_NO_ACL: row(13, 'TGTADM_ACL_NOEXIST', 'this access control rule does not exist'),
  BG_ERR_ACCOUNT_EXISTS: row(14, 'TGTADM_USER_EXIST', 'this account already exists'),
  BG_ERR_NO_ACCOUNT: row(15, 'TGTADM_NO_USER', "can't find the account"),
  BG_ERR_TOO_MANY_ACCOUNTS: row(16, 'TGTADM_TOO_MANY_USER', 'too many accounts'),
  BG_ERR_INVALID_REQUEST: row(17, 'TGTADM_INVALID_REQUEST', 'invalid request'),
  BG_ERR_OUTGOING_ACCOUNT_EXISTS: row(
    18,
    'TGTADM_OUTACCOUNT_EXIST',
    'this target already has an outgoing account',
  ),
  BG_ERR_TARGET_ACTIVE: row(19, 'TGTADM_TARGET_ACTIVE', 'this target is still active'),
  BG_ERR_LUN_ACTIVE: row(20, 'TGTADM_LUN_ACTIVE', 'this logical unit is still active'),
  BG_ERR_DRIVER_ACTIVE: row(21, 'TGTADM_DRIVER_ACTIVE', 'this driver is busy'),
  BG_ERR_UNSUPPORTED_OPERATION: row(
    22,
    'TGTADM_UNSUPPORTED_OPERATION',
    "this operation isn't supported",
  ),
  BG_ERR_UNKNOWN_PARAM: row(23, 'TGTADM_UNKNOWN_PARAM', 'unknown parameter'),
  BG_ERR_PREVENT_REMOVAL: row(24, 'TGTADM_PREVENT_REMOVAL', 'this device has Prevent Removal set'),
  // ---- blockgate additions (no tgtadm_errno) ----
  /** The backing store could not be opened/created (tgt reports INVALID_REQUEST). */
  BG_ERR_BACKING_STORE: own("can't open the backing store", EXIT_EINVAL),
  /** Config file refused (validation); details carry file:line: reason. */
  BG_ERR_CONFIG: own('invalid configuration', EXIT_EINVAL),
  /** Command-line mistake detected before anything was sent. */
  BG_ERR_USAGE: own('invalid command line', EXIT_EINVAL),
  /** Unknown --mode or --op name (tgtadm exits 1 for these). */
  BG_ERR_BAD_NAME: own('unknown mode or operation', EXIT_BAD_NAME),
  /** No daemon listening on the admin socket. */
  BG_ERR_NO_DAEMON: own("can't connect to the blockgate daemon", EXIT_ENOTCONN),
  /** The daemon did not answer in time. */
  BG_ERR_TIMEOUT: own('timed out waiting for the blockgate daemon', EXIT_EINVAL),
  /** The daemon's reply violated the admin wire format. */
  BG_ERR_PROTOCOL: own('malformed reply from the blockgate daemon', EXIT_EINVAL),
  /** `account new` with a CHAP secret shorter than MIN_CHAP_SECRET_LENGTH. */
  BG_ERR_WEAK_SECRET: own('CHAP secret too short', EXIT_EINVAL),
} as const satisfies Record<string, MgmtErrorInfo>;

export type MgmtErrorCode = keyof typeof MGMT_ERRORS;

/** The plain error object that crosses the admin socket and postMessage. */
export interface MgmtError {
  code: MgmtErrorCode;
  message: string;
  details?: string;
}

/** Build the wire error for `code`; `details` is extra context (never replaces the message). */
export function mgmtError(code: MgmtErrorCode, details?: string): MgmtError {
  const e: MgmtError = { code, message: MGMT_ERRORS[code].message };
  if (details !== undefined) e.details = details;
  return e;
}

export function isMgmtErrorCode(code: string): code is MgmtErrorCode {
  return Object.prototype.hasOwnProperty.call(MGMT_ERRORS, code);
}

/** Map a tgtadm_errno to our code (for tools that speak tgt numbers). */
export function codeForTgtadmErrno(errno: number): MgmtErrorCode | undefined {
  for (const [code, info] of Object.entries(MGMT_ERRORS) as [MgmtErrorCode, MgmtErrorInfo][]) {
    if (info.tgtadmErrno === errno) return code;
  }
  return undefined;
}

function row(tgtadmErrno: number, tgtName: string, message: string): MgmtErrorInfo {
  return { tgtadmErrno, tgtName, message, exitStatus: EXIT_EINVAL };
}

function own(message: string, exitStatus: number): MgmtErrorInfo {
  return { tgtadmErrno: null, tgtName: null, message, exitStatus };
}
