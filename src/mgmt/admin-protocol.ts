/**
 * The admin request/reply types: what bgadm (and the config loader) send to
 * the management plane, and what comes back.
 *
 * A `TgtadmRequest` is tgtadm's option set (tgt usr/tgtadm.h `struct
 * tgtadm_req` plus the key=value buffer tgtadm builds) as typed fields: one
 * request per mode × op, one reply. Config files are turned into the same
 * requests (src/config/to-requests.ts), so the registry has one way in.
 *
 * Replies carry structured `ShowData`, never pre-formatted text: bgadm prints
 * it with src/mgmt/show-format.ts (tgtadm's layout) or as JSON (--json).
 */
import type { DaemonConfig } from '../config/schema.js';
import { isMgmtErrorCode, mgmtError, type MgmtError } from './errors.js';

export const LLDS = ['iscsi', 'nbd'] as const;
export type Lld = (typeof LLDS)[number];

/** Canonical mode names; bgadm also accepts tgtadm's aliases (sys, tgt, lu, pt, sess, conn). */
export const MODES = ['sys', 'target', 'logicalunit', 'portal', 'lld', 'session', 'conn', 'account'] as const;
export type AdminMode = (typeof MODES)[number];

/** Order = tgt's `enum tgtadm_op` minus OP_STATS (tgtadm prints the index in one message). */
export const OPS = ['new', 'delete', 'show', 'bind', 'unbind', 'update', 'start', 'stop'] as const;
export type AdminOp = (typeof OPS)[number];

/** SCSI device types tgtadm's --device-type accepts. Only 'disk' is served today. */
export const DEVICE_TYPES = ['disk', 'tape', 'cd', 'changer', 'osd', 'ssc', 'pt'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export interface TgtadmRequest {
  kind: 'tgtadm';
  lld: Lld;
  mode: AdminMode;
  op: AdminOp;
  /** Target id, >= 1. Absent for "all targets" / global. */
  tid?: number;
  lun?: number;
  /** Session id (iSCSI TSIH / NBD connection number) for session/conn modes. */
  sid?: number;
  cid?: number;
  targetname?: string;
  /** -b: path for file backends, volume name for chunk, size spec for memory. */
  backingStore?: string;
  /** -E: 'file' (tgt's rdwr/aio are accepted as aliases by the registry), 'chunk', 'memory'. */
  bstype?: string;
  bsopts?: string;
  /** -f: 'sync', 'direct' or 'sync:direct'. */
  bsoflags?: string;
  /** -y: logical block size in bytes. */
  blockSize?: number;
  deviceType?: DeviceType;
  /** -P k=v,k=v (logicalunit update, target params). */
  params?: Record<string, string>;
  initiatorAddress?: string;
  initiatorName?: string;
  user?: string;
  password?: string;
  /** -O: the account binding is the outgoing (mutual CHAP) one. */
  outgoing?: boolean;
  /** -n / -v: one parameter update (target/sys/conn update). */
  name?: string;
  value?: string;
  /** -F: delete even if active. */
  force?: boolean;
  /** portal mode: "addr:port" or "[v6]:port" from --param portal=... */
  portal?: string;
}

/** `bgadm --dump`: the running configuration as a DaemonConfig. */
export interface DumpRequest {
  kind: 'dump';
}

export type AdminRequest = TgtadmRequest | DumpRequest;

// ---------------------------------------------------------------------------
// Show data

export interface NexusConnectionShow {
  cid: number;
  /** Peer IP address (no port), as tgt prints it. */
  address: string;
}

/** One I_T nexus (iSCSI session / NBD client). */
export interface NexusShow {
  /** tgt's itn_id; for iSCSI the TSIH. */
  nexusId: number;
  initiator: string;
  /** iSCSI InitiatorAlias; tgt prints "none" when absent. */
  alias?: string;
  connections: NexusConnectionShow[];
}

export interface LunShow {
  lun: number;
  /** tgt print_type names: 'controller' for LUN 0, 'disk' for SBC LUNs. */
  type: 'controller' | 'disk' | 'tape' | 'cd/dvd' | 'changer' | 'osd' | 'passthrough';
  scsiId: string;
  scsiSn: string;
  sizeBytes: number;
  blockSize: number;
  online: boolean;
  removable: boolean;
  preventRemoval: boolean;
  readonly: boolean;
  swp: boolean;
  thinProvisioning: boolean;
  /** Backing store type name ('null' for the controller LUN); null prints "None". */
  bsType: string | null;
  /** null prints "None". */
  path: string | null;
  /** Open flags, printed joined by ':' ('sync', 'direct'). */
  bsoflags: ('sync' | 'direct')[];
}

export interface AccountBindings {
  incoming: string[];
  outgoing?: string;
}

export interface TargetShow {
  tid: number;
  name: string;
  lld: Lld;
  state: 'ready' | 'offline';
  /** iSCSI NOP-In keepalive; printed only when interval > 0 (tgt iscsi_print_nop_settings). */
  nop?: { interval: number; count: number };
  nexuses: NexusShow[];
  luns: LunShow[];
  /** Printed only for iSCSI targets (tgt prints accounts for iscsi/iser only). */
  accounts: AccountBindings;
  acl: { addresses: string[]; names: string[] };
}

/** Ordered key=value lines (iSCSI session keys as tgt's show_iscsi_param prints them). */
export type ParamList = [key: string, value: string][];

export interface SystemShow {
  state: 'ready' | 'offline';
  debug: boolean;
  llds: { name: string; state: string }[];
  backingStores: { name: string; oflags?: ('sync' | 'direct')[] }[];
  deviceTypes: string[];
  /** Discovery (global) accounts bound with `--mode account --op bind` without --tid. */
  discoveryAccounts: AccountBindings;
  /** Extra titled sections printed after the rest (e.g. "iSNS" key=value lines). */
  sections?: { title: string; params: ParamList }[];
}

export interface PortalShow {
  lld: Lld;
  /** IP address without brackets. */
  address: string;
  port: number;
  tpgt: number;
}

export interface ConnectionShow {
  sid: number;
  cid: number;
  initiator: string;
  address: string;
}

export type ShowData =
  | { kind: 'targets'; targets: TargetShow[] }
  | { kind: 'target-params'; params: ParamList }
  | { kind: 'accounts'; users: string[] }
  | { kind: 'system'; system: SystemShow }
  | { kind: 'llds'; llds: { name: string; state: string; targets: { tid: number; name: string }[] }[] }
  | { kind: 'connections'; connections: ConnectionShow[] }
  | { kind: 'session-params'; params: ParamList }
  | { kind: 'portals'; portals: PortalShow[] }
  | { kind: 'dump'; config: DaemonConfig };

export type AdminReply = { ok: true; show?: ShowData } | { ok: false; error: MgmtError };

// ---------------------------------------------------------------------------
// Validation of requests arriving from the socket (untrusted JSON).

type FieldKind = 'int' | 'string' | 'bool' | 'params';

const FIELDS: Record<string, FieldKind> = {
  tid: 'int', lun: 'int', sid: 'int', cid: 'int', blockSize: 'int',
  targetname: 'string', backingStore: 'string', bstype: 'string', bsopts: 'string',
  bsoflags: 'string', deviceType: 'string', initiatorAddress: 'string',
  initiatorName: 'string', user: 'string', password: 'string', name: 'string',
  value: 'string', portal: 'string', outgoing: 'bool', force: 'bool', params: 'params',
};

/**
 * Check that `x` is a well-formed AdminRequest. Shape only: whether the
 * target exists etc. is the registry's business. Returns the request (same
 * object) or a BG_ERR_INVALID_REQUEST error naming the first bad field.
 */
export function validateAdminRequest(x: unknown): AdminRequest | MgmtError {
  if (!isRecord(x)) return mgmtError('BG_ERR_INVALID_REQUEST', 'request is not an object');
  if (x.kind === 'dump') return { kind: 'dump' };
  if (x.kind !== 'tgtadm') return mgmtError('BG_ERR_INVALID_REQUEST', 'unknown request kind');
  if (!(LLDS as readonly unknown[]).includes(x.lld)) return mgmtError('BG_ERR_NO_DRIVER');
  if (!(MODES as readonly unknown[]).includes(x.mode)) return mgmtError('BG_ERR_INVALID_REQUEST', 'bad mode');
  if (!(OPS as readonly unknown[]).includes(x.op)) return mgmtError('BG_ERR_INVALID_REQUEST', 'bad op');
  for (const [key, value] of Object.entries(x)) {
    if (key === 'kind' || key === 'lld' || key === 'mode' || key === 'op') continue;
    const kind = FIELDS[key];
    if (kind === undefined) return mgmtError('BG_ERR_INVALID_REQUEST', `unknown field ${key}`);
    if (value !== undefined && !fieldOk(kind, value)) {
      return mgmtError('BG_ERR_INVALID_REQUEST', `bad value for ${key}`);
    }
  }
  if (x.deviceType !== undefined && !(DEVICE_TYPES as readonly unknown[]).includes(x.deviceType)) {
    return mgmtError('BG_ERR_INVALID_REQUEST', 'bad deviceType');
  }
  return x as unknown as TgtadmRequest;
}

/** Check a reply's envelope (client side); show data is trusted to be typed. */
export function validateAdminReply(x: unknown): AdminReply | undefined {
  if (!isRecord(x)) return undefined;
  if (x.ok === true) {
    if (x.show !== undefined && !(isRecord(x.show) && typeof x.show.kind === 'string')) return undefined;
    return x as unknown as AdminReply;
  }
  if (x.ok !== false || !isRecord(x.error)) return undefined;
  const { code, message } = x.error;
  if (typeof code !== 'string' || !isMgmtErrorCode(code) || typeof message !== 'string') return undefined;
  return x as unknown as AdminReply;
}

function fieldOk(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'string':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'params':
      return isRecord(v) && Object.values(v).every((p) => typeof p === 'string');
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
