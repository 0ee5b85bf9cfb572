/**
 * bgadm's options: tgtadm's full option set (tgt usr/tgtadm.c long_options)
 * plus blockgate's additions. One row per option: its short letter is what
 * tgtadm's "option '-%c' is not allowed" messages print and what the
 * per-mode rules in bgadm-rules.ts list.
 */

export interface OptionRow {
  /** Short letter (tgtadm's), or '' for blockgate-only long options. */
  short: string;
  long: string;
  /** Value placeholder; undefined for flags. */
  arg?: string;
  /** Key in the parsed-values record. */
  key: string;
  help: string;
}

export const OPTIONS: readonly OptionRow[] = [
  { short: 'L', long: 'lld', arg: '<driver>', key: 'lld', help: "low-level driver: 'iscsi' (default) or 'nbd'" },
  { short: 'm', long: 'mode', arg: '<mode>', key: 'mode', help: 'sys|target|logicalunit|portal|lld|session|conn|account (aliases: system, tgt, lu, pt, sess, connection)' },
  { short: 'o', long: 'op', arg: '<op>', key: 'op', help: 'new|delete|show|bind|unbind|update|start|stop' },
  { short: 't', long: 'tid', arg: '<id>', key: 'tid', help: 'target id (>= 1)' },
  { short: 's', long: 'sid', arg: '<id>', key: 'sid', help: 'session id (session/conn modes)' },
  { short: 'c', long: 'cid', arg: '<id>', key: 'cid', help: 'connection id (conn mode)' },
  { short: 'l', long: 'lun', arg: '<lun>', key: 'lun', help: 'logical unit number' },
  { short: 'n', long: 'name', arg: '<param>', key: 'name', help: 'parameter name for --op update' },
  { short: 'v', long: 'value', arg: '<value>', key: 'value', help: 'parameter value for --op update' },
  { short: 'b', long: 'backing-store', arg: '<path>', key: 'backingStore', help: 'LUN backing store: file/device path, chunk volume name' },
  { short: 'E', long: 'bstype', arg: '<type>', key: 'bstype', help: "backing store type: file (tgt's rdwr/aio accepted), chunk, memory" },
  { short: 'S', long: 'bsopts', arg: '<options>', key: 'bsopts', help: 'backing-store specific options' },
  { short: 'f', long: 'bsoflags', arg: '<flags>', key: 'bsoflags', help: 'open flags: sync, direct or sync:direct' },
  { short: 'y', long: 'blocksize', arg: '<bytes>', key: 'blockSize', help: 'logical block size (512, 1024, 2048, 4096)' },
  { short: 'T', long: 'targetname', arg: '<name>', key: 'targetname', help: 'target name (IQN for iSCSI, export name for NBD)' },
  { short: 'I', long: 'initiator-address', arg: '<address>', key: 'initiatorAddress', help: 'ACL: IP address, CIDR or ALL' },
  { short: 'Q', long: 'initiator-name', arg: '<name>', key: 'initiatorName', help: 'ACL: initiator name (IQN)' },
  { short: 'u', long: 'user', arg: '<name>', key: 'user', help: 'CHAP account user name' },
  { short: 'p', long: 'password', arg: '<pass>', key: 'password', help: 'CHAP account secret' },
  { short: 'H', long: 'host', arg: '<host>', key: 'host', help: 'SCSI host binding (accepted; not supported by blockgate)' },
  { short: 'B', long: 'bus', arg: '<bus>', key: 'bus', help: 'bus binding (accepted; not supported by blockgate)' },
  { short: 'F', long: 'force', key: 'force', help: 'delete a target even if it has sessions' },
  { short: 'P', long: 'params', arg: '<k=v,...>', key: 'params', help: 'parameters: LUN attributes, or portal=<addr:port> in portal mode' },
  { short: 'Y', long: 'device-type', arg: '<type>', key: 'deviceType', help: 'disk (default); tape, cd, changer, osd, ssc, pt are refused' },
  { short: 'O', long: 'outgoing', key: 'outgoing', help: 'the account binding is the outgoing (mutual CHAP) one' },
  { short: 'C', long: 'control-port', arg: '<port>', key: 'controlPort', help: 'instance number: 0 = default socket, N = <socket>.N' },
  { short: 'd', long: 'debug', key: 'debug', help: 'accepted for compatibility; no effect' },
  { short: 'V', long: 'version', key: 'version', help: 'print the version and exit' },
  { short: '', long: 'json', key: 'json', help: 'print the reply as JSON instead of tgtadm text' },
  { short: '', long: 'dump', key: 'dump', help: 'print the running configuration (YAML, loadable with --config)' },
  { short: '', long: 'admin-socket', arg: '<path>', key: 'adminSocket', help: 'admin socket path (default: $BLOCKGATE_ADMIN_SOCKET, then /run/blockgate/admin.sock, see docs/cli.md)' },
];

/** Long names (without --) for getopt-style prefix abbreviation. */
export const LONG_NAMES: readonly string[] = [...OPTIONS.map((o) => o.long), 'help'];

/**
 * getopt_long accepts any unambiguous prefix of a long option (tgt scripts
 * use `--param portal=...`, `--back`); commander does not. Expand such
 * prefixes before commander sees argv. An exact name always wins.
 */
export function expandLongPrefixes(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (!a.startsWith('--') || a.length === 2) {
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const rest = eq < 0 ? '' : a.slice(eq);
    if (LONG_NAMES.includes(name)) {
      out.push(a);
      continue;
    }
    const matches = LONG_NAMES.filter((n) => n.startsWith(name));
    out.push(matches.length === 1 ? `--${matches[0]}${rest}` : a);
  }
  return out;
}

/** Short letter for a values key (first row wins), for tgtadm-style messages. */
export function shortFor(key: string): string {
  return OPTIONS.find((o) => o.key === key && o.short !== '')?.short ?? '';
}
