/**
 * What tgtadm checks on its command line before talking to the daemon
 * (tgt usr/tgtadm.c main), as a mode × op table: which option letters each
 * pair allows, and which values it requires. Messages are tgtadm's own
 * wording (including its quirks), so a script that worked against tgtadm
 * fails the same way against bgadm. Every failure exits with EINVAL (22).
 */
import type { AdminMode, AdminOp } from '../mgmt/admin-protocol.js';

/** Parsed values, before they become a request. Absent = not given. */
export interface Values {
  lld?: string;
  mode?: AdminMode;
  op?: AdminOp | 'stat';
  tid?: number;
  sid?: number;
  cid?: number;
  lun?: number;
  name?: string;
  value?: string;
  backingStore?: string;
  bstype?: string;
  bsopts?: string;
  bsoflags?: string;
  blockSize?: number;
  targetname?: string;
  initiatorAddress?: string;
  initiatorName?: string;
  user?: string;
  password?: string;
  host?: string;
  bus?: string;
  force?: boolean;
  params?: string;
  deviceType?: string;
  outgoing?: boolean;
}

type Check = (v: Values) => string | undefined;

interface OpRule {
  /** tgtadm's allowed short letters for this mode × op ('d' is always allowed). */
  allowed: string;
  /** Message when a letter is not allowed; `%c` = the letter. */
  notAllowed: string;
  checks?: Check[];
}

interface ModeRule {
  pre?: Check;
  ops: Partial<Record<AdminOp | 'stat', OpRule>>;
  /** Message for an op without a rule. */
  unsupported(op: string): string;
}

/** tgt's enum tgtadm_op numbering (tgtadm prints it in one lld-mode message). */
const TGT_OP_NUMBER: Record<string, number> = { new: 0, delete: 1, show: 2, bind: 3, unbind: 4, update: 5, stat: 6, start: 7, stop: 8 };

const needNameValue: Check = (v) =>
  v.name === undefined || v.value === undefined ? "update operation requires 'name' and 'value' options" : undefined;

const tidCheck = (zeroMsg: string): Check => (v) => {
  if (v.tid !== undefined && v.tid > 0) return undefined;
  return v.tid === 0 ? zeroMsg : "'tid' option is necessary";
};

const opRule = (allowed: string, notAllowed: string, ...checks: Check[]): OpRule => ({ allowed, notAllowed, checks });

const TARGET_NA = "target mode: option '-%c' is not allowed/supported";
const ACCOUNT_NA = "account mode: option '-%c' is not allowed/supported";
const LU_NA = "logicalunit mode: option '-%c' is not allowed/supported";
const PORTAL_NA = "portal mode: option '-%c' is not allowed/supported";
const LLD_NA = "lld mode: option '-%c' is not allowed/supported";

const bindNeeds: Check = (v) =>
  v.initiatorAddress === undefined && v.initiatorName === undefined && v.host === undefined && v.bus === undefined
    ? // sic: tgtadm's text lacks the space before "or".
      `${v.op} operation requires initiator-address, initiator-nameor bus`
    : undefined;

const needPortal: Check = (v) => (v.params === undefined ? 'you must specify --param portal=<portal>' : undefined);

const RULES: Partial<Record<AdminMode, ModeRule>> = {
  sys: {
    ops: {
      update: opRule('LmonvC', "system mode: option '-%c' is not allowed/supported", needNameValue),
      show: opRule('', ''),
      delete: opRule('', ''),
      stat: opRule('', ''),
    },
    unsupported: (op) => `operation ${op} not supported in system mode`,
  },
  target: {
    pre: (v) => (v.op === 'show' ? undefined : tidCheck("'tid' cannot be 0")(v)),
    ops: {
      new: opRule('LmotTC', TARGET_NA, (v) =>
        v.targetname === undefined ? 'creating new target requires a name, use --targetname' : undefined),
      delete: opRule('LmotCF', TARGET_NA),
      show: opRule('LmotC', TARGET_NA),
      stat: opRule('LmotC', TARGET_NA),
      bind: opRule('LmotIQBHC', TARGET_NA, bindNeeds),
      unbind: opRule('LmotIQBHC', TARGET_NA, bindNeeds),
      update: opRule('LmotnvC', TARGET_NA, needNameValue),
    },
    unsupported: (op) => `operation ${op} not supported in target mode`,
  },
  account: {
    ops: {
      new: opRule('LmoupfC', ACCOUNT_NA, (v) =>
        v.user === undefined || v.password === undefined ? "'user' and 'password' options are required" : undefined),
      show: opRule('LmoC', ACCOUNT_NA),
      delete: opRule('LmouC', ACCOUNT_NA),
      bind: opRule('LmotuOC', ACCOUNT_NA, (v) => (v.user === undefined ? "'user' option is necessary" : undefined)),
      unbind: opRule('LmotuOC', ACCOUNT_NA, (v) => (v.user === undefined ? "'user' option is necessary" : undefined)),
    },
    unsupported: (op) => `operation ${op} not supported in account mode`,
  },
  logicalunit: {
    pre: (v) => tidCheck("'tid' must not be 0")(v) ?? (v.lun === undefined ? "'lun' option is necessary" : undefined),
    ops: {
      // blockgate extension: -P on new sets the LUN's identity at creation.
      // Deviation: tgt creates a LUN without backing store for disk; we need one
      // unless the backing store type is memory.
      new: opRule('LmofytlbEYCSP', LU_NA, (v) =>
        v.backingStore === undefined && v.bstype !== 'memory' ? "'backing-store' option is necessary" : undefined),
      // blockgate extension: -F deletes a LUN whose target still has sessions.
      delete: opRule('LmotlFC', LU_NA),
      stat: opRule('LmotlC', LU_NA),
      // blockgate extension: --name checksum prints the LUN's CRC32C (background
      // pool); any other show keeps tgtadm's refusal.
      show: opRule('LmotlnC', LU_NA, (v) => (v.name === 'checksum' ? undefined : 'operation show not supported in logicalunit mode')),
      update: opRule('LmofytlPC', "option '-%c' not supported in logicalunit mode"),
    },
    unsupported: (op) => `operation ${op} not supported in logicalunit mode`,
  },
  portal: {
    ops: {
      new: opRule('LmoCP', PORTAL_NA, needPortal),
      delete: opRule('LmoCP', PORTAL_NA, needPortal),
      show: opRule('LmoC', "option '-%c' not supported in portal mode"),
    },
    unsupported: (op) => `operation ${op} not supported in portal mode`,
  },
  lld: {
    ops: { start: opRule('LmoC', LLD_NA), stop: opRule('LmoC', LLD_NA), show: opRule('LmoC', LLD_NA) },
    unsupported: (op) => `option ${TGT_OP_NUMBER[op] ?? -1} not supported in lld mode`,
  },
  // session and conn: tgtadm checks nothing; the daemon decides.
};

/**
 * Check `v` (mode and op present) given the option letters in command-line
 * order. Returns tgtadm's message, or undefined when the command line is fine.
 */
export function checkModeOp(v: Values, letters: readonly string[]): string | undefined {
  const rule = RULES[v.mode!];
  if (rule === undefined) return undefined;
  const pre = rule.pre?.(v);
  if (pre !== undefined) return pre;
  const op = rule.ops[v.op!];
  if (op === undefined) return rule.unsupported(v.op!);
  if (op.notAllowed !== '') {
    const bad = letters.find((l) => l !== '' && l !== 'd' && !op.allowed.includes(l));
    if (bad !== undefined) return op.notAllowed.replace('%c', bad);
  }
  for (const check of op.checks ?? []) {
    const msg = check(v);
    if (msg !== undefined) return msg;
  }
  return undefined;
}
