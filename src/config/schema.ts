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
  /**
   * The LUN's 128-bit identity, 32 hex digits: the source of its NAA
   * designator and default serial. Generated when the LUN is created (or
   * first loaded without one) and saved; a chunk LUN takes its volume's.
   */
  uuid?: string;
  /** Unit serial number (tgt scsi_sn); default: the uuid. */
  serial?: string;
  /** T10 vendor identification designator, verbatim (tgt scsi_id); default: vendor id + serial. */
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
  /** Connections in option haggling at once, per listener (default 1024). */
  maxHandshakes?: number;
  /** Connections in option haggling at once from one peer address, per listener (default 128). */
  maxHandshakesPerAddress?: number;
  /** Seconds a connection may take to finish option haggling (default 10). */
  handshakeTimeoutSeconds?: number;
  /** Mode of `unix:` listener sockets, octal digits (default "0600"). */
  unixSocketMode?: string;
}

/** iSCSI portal options (docs/config.md `iscsi`). */
export interface IscsiConfig {
  /** Connections in login (or a Discovery session) at once, per portal listener (default 1024). */
  maxLogins?: number;
  /** Connections in login (or a Discovery session) at once from one peer address, per portal listener (default 128). */
  maxLoginsPerAddress?: number;
  /** Seconds a connection may take to finish login (default 15). */
  loginTimeoutSeconds?: number;
}

export interface DaemonConfig {
  /** "addr:port" / "[v6]:port"; empty = iSCSI off. */
  iscsiPortals: string[];
  /** "addr:port" / "[v6]:port" / "unix:/path"; empty = NBD off. */
  nbdListen: string[];
  adminSocket?: string;
  /** "addr:port" or "off". */
  metricsListen?: string;
  logLevel?: LogLevel;
  dataDir?: string;
  singleLoop?: boolean;
  /** IEEE company id (OUI) in NAA designators, 6 hex digits; default "001405" (LIO's, see docs/scsi.md). */
  naaCompanyId?: string;
  accounts: AccountConfig[];
  /** Accounts bound globally for iSCSI SendTargets discovery. */
  discovery: { incomingUsers: string[]; outgoingUser?: string };
  iscsi?: IscsiConfig;
  nbd?: NbdConfig;
  /** Memory for requests in flight and unsent replies (bytes); defaults in src/worker/reply-budget.ts. */
  replyBudget?: { perConnection?: number; daemon?: number };
  targets: TargetConfig[];
}

/** Default ports (IANA): iSCSI 3260 (RFC 7143 §13), NBD 10809. */
export const ISCSI_DEFAULT_PORT = 3260;
export const NBD_DEFAULT_PORT = 10809;
/**
 * Loopback only: the embedded default serves an unauthenticated, writable
 * LUN, so nothing reaches it from another host unless a listen address is
 * given (`--iscsi-portal`, `--nbd-listen`, or the config's keys).
 */
export const DEFAULT_ISCSI_PORTAL = `127.0.0.1:${ISCSI_DEFAULT_PORT}`;
export const DEFAULT_NBD_LISTEN = `127.0.0.1:${NBD_DEFAULT_PORT}`;

/**
 * What `blockgate` runs with when given no config file: both protocols on
 * their standard ports on loopback, no targets. A config file that omits
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
