/**
 * Wires the iSCSI portal (targets/iscsi) to the registry: targets, CHAP
 * accounts, ACLs, redirects, the session table, and the hand-off into target
 * loops. Runs on the main thread.
 */
import { parseHostPort } from '../config/address.js';
import { ISCSI_DEFAULT_PORT, type DaemonConfig } from '../config/schema.js';
import type { DaemonServices, Frontend } from '../mgmt/daemon.js';
import type { Registry, TargetRecord } from '../mgmt/registry.js';
import { iscsiAuthFailures } from '../obs/metrics.js';
import {
  IscsiPortal,
  type ChapAccount,
  type IscsiDirectory,
  type IscsiPortalOptions,
  type IscsiTargetEntry,
  type ThrottleOptions,
} from '../../targets/iscsi/index.js';

/** Target parameters that are ours or tgt's, not iSCSI login keys. */
const NON_KEY_PARAMS = new Set(['RedirectAddress', 'RedirectPort', 'RedirectReason', 'TargetAlias', 'nop_interval', 'nop_count', 'state']);

function accounts(reg: Registry, users: string[]): ChapAccount[] {
  return users.flatMap((u) => {
    const a = reg.accounts.get(u);
    return a ? [{ user: a.user, secret: a.password }] : [];
  });
}

function entryOf(reg: Registry, rec: TargetRecord): IscsiTargetEntry {
  const p = rec.cfg.params;
  const keys: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) if (!NON_KEY_PARAMS.has(k)) keys[k] = v;
  const out: IscsiTargetEntry = {
    tid: rec.cfg.tid,
    name: rec.cfg.name,
    canAccess: (name, address) => reg.aclAllows(rec, name, address),
    incoming: accounts(reg, rec.cfg.incomingUsers),
    params: keys,
  };
  const alias = p.TargetAlias ?? rec.cfg.alias;
  if (alias !== undefined) out.alias = alias;
  const outgoing = rec.cfg.outgoingUser ? accounts(reg, [rec.cfg.outgoingUser])[0] : undefined;
  if (outgoing) out.outgoing = outgoing;
  // tgt: RedirectAddress/RedirectPort/RedirectReason=Temporary|Permanent
  if (p.RedirectAddress) {
    out.redirect = {
      address: p.RedirectAddress,
      port: Number(p.RedirectPort ?? ISCSI_DEFAULT_PORT),
      permanent: (p.RedirectReason ?? '').toLowerCase() === 'permanent',
    };
  }
  return out;
}

export function iscsiDirectory(services: DaemonServices): IscsiDirectory {
  const reg = services.registry;
  const ready = (rec: TargetRecord | undefined): rec is TargetRecord => !!rec && rec.cfg.lld === 'iscsi' && rec.state === 'ready';
  return {
    portals: () => services.portals().filter((p) => p.lld === 'iscsi').map((p) => ({ address: p.address, port: p.port, tpgt: p.tpgt })),
    findTarget(name) {
      const rec = reg.targetByName(name);
      return ready(rec) ? entryOf(reg, rec) : undefined;
    },
    listTargets: (initiator, address) =>
      [...reg.targets.values()]
        .filter((rec) => ready(rec) && reg.aclAllows(rec, initiator, address))
        .sort((a, b) => a.cfg.tid - b.cfg.tid)
        .map((rec) => entryOf(reg, rec)),
    discoveryAuth() {
      const d = reg.discovery;
      const outgoing = d.outgoingUser ? accounts(reg, [d.outgoingUser])[0] : undefined;
      return { incoming: accounts(reg, d.incomingUsers), ...(outgoing ? { outgoing } : {}) };
    },
    findSession(tid, initiatorName, isid) {
      const rec = reg.targets.get(tid);
      if (!rec) return undefined;
      for (const s of rec.sessions.values()) {
        if (s.protocol === 'iscsi' && s.initiator === initiatorName && s.isid === isid) {
          return { sid: s.sid, tsih: s.tsih ?? s.sid, connections: s.connections.size, maxConnections: s.maxConnections ?? 1 };
        }
      }
      return undefined;
    },
    allocateSid: () => reg.allocateSid(),
    handOff(tid, conn) {
      const rec = reg.targets.get(tid);
      if (!rec) {
        conn.socket.destroy();
        return;
      }
      const state = conn.reinstate !== undefined ? { ...conn.state, reinstate: conn.reinstate } : conn.state;
      rec.runtime
        .handOff({ protocol: 'iscsi', stream: conn.socket, leftover: conn.leftover, state, sid: conn.sid, cid: conn.cid })
        .catch((err: Error) => {
          services.log.warn({ target: rec.cfg.name, err: err.message }, 'iscsi hand-off failed');
          conn.socket.destroy();
        });
    },
  };
}

/** Throttle settings from the environment (docs/config.md): a positive integer each, or the default. */
export function throttleFromEnv(env: NodeJS.ProcessEnv): Partial<ThrottleOptions> {
  const out: Partial<ThrottleOptions> = {};
  const vars: [keyof ThrottleOptions, string][] = [
    ['freeFailures', 'BLOCKGATE_ISCSI_AUTH_FREE_FAILURES'],
    ['baseDelayMs', 'BLOCKGATE_ISCSI_AUTH_DELAY_MS'],
    ['maxDelayMs', 'BLOCKGATE_ISCSI_AUTH_MAX_DELAY_MS'],
  ];
  for (const [key, name] of vars) {
    const v = env[name];
    if (v !== undefined && /^[0-9]+$/.test(v)) out[key] = Number(v);
  }
  return out;
}

/** The login limits of docs/config.md `iscsi.*`; unset keys keep the portal's defaults. */
export function iscsiLoginLimits(cfg: DaemonConfig): Pick<IscsiPortalOptions, 'maxLogins' | 'maxLoginsPerAddress' | 'loginTimeoutMs'> {
  const i = cfg.iscsi ?? {};
  return {
    ...(i.maxLogins !== undefined ? { maxLogins: i.maxLogins } : {}),
    ...(i.maxLoginsPerAddress !== undefined ? { maxLoginsPerAddress: i.maxLoginsPerAddress } : {}),
    ...(i.loginTimeoutSeconds !== undefined ? { loginTimeoutMs: i.loginTimeoutSeconds * 1000 } : {}),
  };
}

export function iscsiFrontend(services: DaemonServices): Frontend {
  const portal = new IscsiPortal({
    directory: iscsiDirectory(services),
    log: services.log,
    throttle: throttleFromEnv(process.env),
    onAuthFailure: (kind) => iscsiAuthFailures.inc({ kind }),
    ...iscsiLoginLimits(services.config()),
  });
  return {
    protocol: 'iscsi',
    async listen(address) {
      const hp = parseHostPort(address, ISCSI_DEFAULT_PORT);
      if (typeof hp === 'string') throw new Error(`iscsi portal address: ${hp}`);
      return portal.listen(hp.host, hp.port);
    },
    close: () => portal.close(),
  };
}
