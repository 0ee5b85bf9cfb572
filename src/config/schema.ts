/**
 * The daemon configuration model. Both config syntaxes (our YAML, tgt's
 * targets.conf) load into this; `configToRequests` turns it into the same
 * admin requests bgadm sends; `saveConfigAtomic` writes it back as YAML.
 *
 * Every key is documented in docs/config.md. Optional keys are omitted (not
 * `undefined`) in loaded configs so that load(save(x)) deep-equals x.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type BackingStoreType = 'file' | 'chunk' | 'memory';
export const BSTYPES: readonly BackingStoreType[] = ['file', 'chunk', 'memory'];

export interface LunConfig {
  /** 1..16383 (LUN 0 is the controller tgt creates itself). */
  lun: number;
  /** file: path; chunk: volume name (e.g. "/vol1"); memory: ignored label. */
  backingStore: string;
  bstype: BackingStoreType;
  /** Backend-specific options, "k=v;k=v" (tgt --bsopts). */
  bsopts?: string;
  /** 'sync', 'direct' or 'sync:direct'. */
  bsoflags?: string;
  /** Create (sparse file) / size (memory, chunk volume) when missing. */
  sizeBytes?: number;
  /** Logical block size in bytes (default 512). */
  blockSize?: number;
  readOnly?: boolean;
  removable?: boolean;
  vendorId?: string;
  productId?: string;
  productRev?: string;
  /** Unit serial number (tgt scsi_sn). */
  serial?: string;
  /** Device identification (tgt scsi_id). */
  scsiId?: string;
  writeCache?: boolean;
  thinProvisioning?: boolean;
  /** Extra NBD export name that also serves this LUN. */
  nbdExport?: string;
}

export interface AclConfig {
  /** IPv4/IPv6 address, CIDR, or 'ALL'. Empty + empty names = nobody (tgt semantics). */
  addresses: string[];
  /** Initiator IQNs. */
  names: string[];
}

export interface TargetConfig {
  tid: number;
  name: string;
  lld: 'iscsi' | 'nbd';
  alias?: string;
  luns: LunConfig[];
  /** Account user names bound as incoming (CHAP) users. Must exist in `accounts`. */
  incomingUsers: string[];
  /** Account user name bound as the outgoing (mutual CHAP) user. */
  outgoingUser?: string;
  acl: AclConfig;
  /** Target parameters (iSCSI keys, nop_interval, RedirectAddress...), tgtadm --name/--value. */
  params: Record<string, string>;
}

export interface AccountConfig {
  user: string;
  password: string;
}

export interface NbdConfig {
  tls?: 'off' | 'on' | 'require';
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsPskFile?: string;
  tlsVerifyPeer?: boolean;
  /** Export served to clients that ask for the empty name ("" / NBD_OPT_EXPORT_NAME ""). */
  defaultExport?: string;
}

export interface DaemonConfig {
  /** "addr:port" / "[v6]:port"; empty = iSCSI off. */
  iscsiPortals: string[];
  nbdListen: string[];
  adminSocket?: string;
  /** "addr:port" or "off". */
  metricsListen?: string;
  logLevel?: LogLevel;
  dataDir?: string;
  singleLoop?: boolean;
  accounts: AccountConfig[];
  /** Accounts bound globally for iSCSI SendTargets discovery. */
  discovery: { incomingUsers: string[]; outgoingUser?: string };
  nbd?: NbdConfig;
  /** Memory for requests in flight and unsent replies (bytes); defaults in src/worker/reply-budget.ts. */
  replyBudget?: { perConnection?: number; daemon?: number };
  targets: TargetConfig[];
}

/** Default ports (IANA): iSCSI 3260 (RFC 7143 §13), NBD 10809. */
export const ISCSI_DEFAULT_PORT = 3260;
export const NBD_DEFAULT_PORT = 10809;
export const DEFAULT_ISCSI_PORTAL = `0.0.0.0:${ISCSI_DEFAULT_PORT}`;
export const DEFAULT_NBD_LISTEN = `0.0.0.0:${NBD_DEFAULT_PORT}`;

/**
 * What `blockgate` runs with when given no config file: both protocols on
 * their standard ports, no targets. A config file that omits
 * `iscsiPortals`/`nbdListen` gets these too; `[]` turns a protocol off.
 */
export function defaultConfig(): DaemonConfig {
  return {
    iscsiPortals: [DEFAULT_ISCSI_PORTAL],
    nbdListen: [DEFAULT_NBD_LISTEN],
    accounts: [],
    discovery: { incomingUsers: [] },
    targets: [],
  };
}
