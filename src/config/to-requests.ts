/**
 * Turn a DaemonConfig into the admin requests that build it, in the order
 * tgt-admin issues tgtadm commands: accounts, discovery bindings, then per
 * target: create, parameters, LUNs, account bindings, ACL bindings. The
 * registry executes these exactly as if bgadm had sent them one by one, so a
 * config file can do nothing a bgadm script cannot.
 *
 * Listener settings (portals, admin socket, logging) are not requests: the
 * daemon applies them at start.
 */
import type { TgtadmRequest } from '../mgmt/admin-protocol.js';
import { lunConfigToParams } from './lun-params.js';
import type { DaemonConfig, TargetConfig } from './schema.js';

export function configToRequests(config: DaemonConfig): TgtadmRequest[] {
  const out: TgtadmRequest[] = [];
  for (const a of config.accounts) {
    out.push({ kind: 'tgtadm', lld: 'iscsi', mode: 'account', op: 'new', user: a.user, password: a.password });
  }
  for (const user of config.discovery.incomingUsers) {
    out.push({ kind: 'tgtadm', lld: 'iscsi', mode: 'account', op: 'bind', user });
  }
  if (config.discovery.outgoingUser !== undefined) {
    out.push({ kind: 'tgtadm', lld: 'iscsi', mode: 'account', op: 'bind', user: config.discovery.outgoingUser, outgoing: true });
  }
  for (const t of config.targets) out.push(...targetRequests(t));
  return out;
}

export function targetRequests(t: TargetConfig): TgtadmRequest[] {
  const base = { kind: 'tgtadm', lld: t.lld, tid: t.tid } as const;
  const out: TgtadmRequest[] = [{ ...base, mode: 'target', op: 'new', targetname: t.name }];
  const params: Record<string, string> = { ...t.params };
  if (t.alias !== undefined) params.TargetAlias = t.alias; // RFC 7143 §13.6
  for (const [name, value] of Object.entries(params)) {
    out.push({ ...base, mode: 'target', op: 'update', name, value });
  }
  for (const l of t.luns) {
    const req: TgtadmRequest = { ...base, mode: 'logicalunit', op: 'new', lun: l.lun, backingStore: l.backingStore, bstype: l.bstype };
    if (l.bsopts !== undefined) req.bsopts = l.bsopts;
    if (l.bsoflags !== undefined) req.bsoflags = l.bsoflags;
    if (l.blockSize !== undefined) req.blockSize = l.blockSize;
    const lunParams = lunConfigToParams(l);
    if (Object.keys(lunParams).length > 0) req.params = lunParams;
    out.push(req);
  }
  for (const user of t.incomingUsers) out.push({ ...base, mode: 'account', op: 'bind', user });
  if (t.outgoingUser !== undefined) out.push({ ...base, mode: 'account', op: 'bind', user: t.outgoingUser, outgoing: true });
  for (const a of t.acl.addresses) out.push({ ...base, mode: 'target', op: 'bind', initiatorAddress: a });
  for (const n of t.acl.names) out.push({ ...base, mode: 'target', op: 'bind', initiatorName: n });
  return out;
}
