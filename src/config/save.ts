/**
 * Write a DaemonConfig as YAML, atomically and durably (src/util/atomic-replace.ts):
 * a reader, or a crash, sees the old file or the new one, never a mix. The
 * file is 0600 (it may hold CHAP secrets). Key order follows the schema so
 * saved files diff cleanly.
 */
import { stringify } from 'yaml';
import { atomicReplace } from '../util/atomic-replace.js';
import type { DaemonConfig, LunConfig, TargetConfig } from './schema.js';

const HEADER = '# blockgate configuration (docs/config.md). Written by blockgate; comments are not preserved.\n';

/** YAML text for `config`; loading it back yields a deep-equal config. */
export function stringifyConfig(config: DaemonConfig): string {
  return HEADER + stringify(ordered(config), { lineWidth: 0 });
}

export async function saveConfigAtomic(path: string, config: DaemonConfig): Promise<void> {
  await atomicReplace(path, stringifyConfig(config), { mode: 0o600 });
}

/** Rebuild objects in schema key order, dropping undefined values. */
function ordered(c: DaemonConfig): Record<string, unknown> {
  return compact({
    iscsiPortals: c.iscsiPortals,
    nbdListen: c.nbdListen,
    adminSocket: c.adminSocket,
    metricsListen: c.metricsListen,
    logLevel: c.logLevel,
    dataDir: c.dataDir,
    singleLoop: c.singleLoop,
    naaCompanyId: c.naaCompanyId,
    accounts: c.accounts.map((a) => ({ user: a.user, password: a.password })),
    discovery: compact({ incomingUsers: c.discovery.incomingUsers, outgoingUser: c.discovery.outgoingUser }),
    iscsi: c.iscsi === undefined ? undefined : compact({ ...c.iscsi }),
    nbd: c.nbd === undefined ? undefined : compact({ ...c.nbd }),
    replyBudget: c.replyBudget === undefined ? undefined : compact({ ...c.replyBudget }),
    targets: c.targets.map(orderedTarget),
  });
}

function orderedTarget(t: TargetConfig): Record<string, unknown> {
  return compact({
    tid: t.tid,
    name: t.name,
    lld: t.lld,
    alias: t.alias,
    luns: t.luns.map(orderedLun),
    incomingUsers: t.incomingUsers,
    outgoingUser: t.outgoingUser,
    acl: { addresses: t.acl.addresses, names: t.acl.names },
    params: { ...t.params },
  });
}

function orderedLun(l: LunConfig): Record<string, unknown> {
  const { lun, backingStore, bstype, ...rest } = l;
  return compact({ lun, backingStore, bstype, ...rest });
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
