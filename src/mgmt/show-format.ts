/**
 * Print ShowData in tgtadm's text layout, byte for byte where tgt has an
 * equivalent (tgt usr/target.c tgt_target_show_all / account_show /
 * system_show / lld_show, usr/iscsi/target.c iscsi_target_show, observed
 * against tgtd 1.0.85), so scripts that parse tgtadm output (tgt-admin
 * --dump, monitoring one-liners) keep working.
 *
 * Pure: data in, string out.
 */
import { stringifyConfig } from '../config/save.js';
import type {
  AccountBindings,
  AdminRequest,
  ConnectionShow,
  LunShow,
  NexusShow,
  ParamList,
  PortalShow,
  ShowData,
  SystemShow,
  TargetShow,
} from './admin-protocol.js';

const TAB1 = '    ';
const TAB2 = TAB1 + TAB1;
const TAB3 = TAB2 + TAB1;
const TAB4 = TAB2 + TAB2;

/** Format `show` as the reply to `request` would print under tgtadm. */
export function formatShow(_request: AdminRequest, show: ShowData): string {
  switch (show.kind) {
    case 'targets':
      return show.targets.map(formatTarget).join('');
    case 'target-params':
    case 'session-params':
      return formatParams(show.params);
    case 'accounts':
      return formatAccountList(show.users);
    case 'system':
      return formatSystem(show.system);
    case 'llds':
      return formatLlds(show.llds);
    case 'connections':
      return show.connections.map(formatConnection).join('');
    case 'portals':
      return show.portals.map(formatPortal).join('');
    case 'dump':
      return stringifyConfig(show.config);
  }
}

/**
 * tgt's print_disksize: a decimal-MB figure with a rounding fudge
 * (≈ size / 1_000_000, rounded). Done in bigint to match tgt's uint64 math.
 */
export function formatDiskSizeMB(sizeBytes: number): string {
  const sectors = BigInt(Math.trunc(sizeBytes)) / 512n;
  const mb = (sectors - (sectors / 625n - 974n)) / 1950n;
  return `${mb} MB`;
}

function yesNo(b: boolean): string {
  return b ? 'Yes' : 'No';
}

function formatTarget(t: TargetShow): string {
  let s = `Target ${t.tid}: ${t.name}\n`;
  s += `${TAB1}System information:\n${TAB2}Driver: ${t.lld}\n${TAB2}State: ${t.state}\n`;
  if (t.lld === 'iscsi' && t.nop !== undefined && t.nop.interval !== 0) {
    s += `${TAB2}Nop interval: ${t.nop.interval}\n${TAB2}Nop count: ${t.nop.count}\n`;
  }
  s += `${TAB1}I_T nexus information:\n`;
  s += t.nexuses.map(formatNexus).join('');
  s += `${TAB1}LUN information:\n`;
  s += t.luns.map(formatLun).join('');
  if (t.lld === 'iscsi') s += `${TAB1}Account information:\n` + formatBindings(t.accounts, TAB2);
  s += `${TAB1}ACL information:\n`;
  s += [...t.acl.addresses, ...t.acl.names].map((a) => `${TAB2}${a}\n`).join('');
  return s;
}

function formatNexus(n: NexusShow): string {
  let s = `${TAB2}I_T nexus: ${n.nexusId}\n`;
  s += `${TAB3}Initiator: ${n.initiator} alias: ${n.alias ?? 'none'}\n`;
  for (const c of n.connections) {
    s += `${TAB3}Connection: ${c.cid}\n${TAB4}IP Address: ${c.address}\n`;
  }
  return s;
}

function formatLun(l: LunShow): string {
  const lines: [string, string][] = [
    ['Type', l.type],
    ['SCSI ID', l.scsiId],
    ['SCSI SN', l.scsiSn],
    ['Size', `${formatDiskSizeMB(l.sizeBytes)}, Block size: ${l.blockSize}`],
    ['Online', yesNo(l.online)],
    ['Removable media', yesNo(l.removable)],
    ['Prevent removal', yesNo(l.preventRemoval)],
    ['Readonly', yesNo(l.readonly)],
    ['SWP', yesNo(l.swp)],
    ['Thin-provisioning', yesNo(l.thinProvisioning)],
    ['Backing store type', l.bsType ?? 'None'],
    ['Backing store path', l.path ?? 'None'],
    ['Backing store flags', formatOflags(l.bsoflags)],
  ];
  return `${TAB2}LUN: ${l.lun}\n` + lines.map(([k, v]) => `${TAB3}${k}: ${v}\n`).join('');
}

/** tgt open_flags_to_str: "sync", "direct", "sync:direct" — always in that order. */
function formatOflags(flags: readonly ('sync' | 'direct')[]): string {
  return (['sync', 'direct'] as const).filter((f) => flags.includes(f)).join(':');
}

function formatBindings(a: AccountBindings, indent: string): string {
  let s = a.incoming.map((u) => `${indent}${u}\n`).join('');
  if (a.outgoing !== undefined) s += `${indent}${a.outgoing} (outgoing)\n`;
  return s;
}

function formatParams(params: ParamList): string {
  return params.map(([k, v]) => `${k}=${v}\n`).join('');
}

function formatAccountList(users: string[]): string {
  if (users.length === 0) return '';
  return 'Account list:\n' + users.map((u) => `${TAB1}${u}\n`).join('');
}

function formatSystem(sys: SystemShow): string {
  let s = `System:\n${TAB1}State: ${sys.state}\n${TAB1}debug: ${sys.debug ? 'on' : 'off'}\n`;
  s += 'LLDs:\n' + sys.llds.map((l) => `${TAB1}${l.name}: ${l.state}\n`).join('');
  s += 'Backing stores:\n';
  for (const bs of sys.backingStores) {
    const oflags = bs.oflags !== undefined && bs.oflags.length > 0 ? ` (bsoflags ${formatOflags(bs.oflags)})` : '';
    s += `${TAB1}${bs.name}${oflags}\n`;
  }
  s += 'Device types:\n' + sys.deviceTypes.map((d) => `${TAB1}${d}\n`).join('');
  const acc = sys.discoveryAccounts;
  if (acc.incoming.length > 0) {
    // tgt system_show prints this header through "%s\n" with a trailing "\n"
    // already in the string: the blank line after it is tgt's, kept on purpose.
    s += `${TAB1}Account information:\n\n` + formatBindings(acc, TAB1);
  }
  for (const sec of sys.sections ?? []) {
    s += `${sec.title}:\n` + sec.params.map(([k, v]) => `${TAB1}${k}=${v}\n`).join('');
  }
  return s;
}

function formatLlds(llds: { name: string; state: string; targets: { tid: number; name: string }[] }[]): string {
  let s = 'LLDs:\n';
  for (const l of llds) {
    s += `${TAB1}${l.name}: ${l.state}\n`;
    s += l.targets.map((t) => `${TAB2}Target ${t.tid}: ${t.name}\n`).join('');
  }
  return s;
}

function formatConnection(c: ConnectionShow): string {
  return `Session: ${c.sid}\n${TAB1}Connection: ${c.cid}\n${TAB2}Initiator: ${c.initiator}\n${TAB2}IP Address: ${c.address}\n`;
}

/** iscsi_target_show_portals: IPv6 addresses in brackets, then ",tpgt". */
function formatPortal(p: PortalShow): string {
  if (p.address.startsWith('unix:')) return `Portal: ${p.address},${p.tpgt}\n`; // an NBD Unix socket
  const host = p.address.includes(':') ? `[${p.address}]` : p.address;
  return `Portal: ${host}:${p.port},${p.tpgt}\n`;
}
