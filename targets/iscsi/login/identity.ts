/**
 * Checks on the first complete Login Request (RFC 7143 §6.3.1, §11.13.5):
 * who is the initiator, which session type, which target, redirection, ACL,
 * and whether the connection starts, reinstates or joins a session.
 */
import { LoginStatus } from '../constants.js';
import type { IscsiTargetEntry } from '../directory.js';
import type { LoginRequest } from '../pdu-types.js';
import { encodeText } from '../text.js';
import { isOwnEndpoint } from '../../../src/util/self-endpoint.js';
import type { LoginEnv } from './engine.js';

export interface Identity {
  initiatorName: string;
  initiatorAlias?: string;
  sessionType: 'Normal' | 'Discovery';
  target?: IscsiTargetEntry;
  addToSession: boolean;
  /** sid of the session this login reinstates (same InitiatorName + ISID, TSIH 0). */
  reinstate?: number;
  /** TargetPortalGroupTag/TargetAlias already declared. */
  declared?: boolean;
  /** The target's redirect points at this daemon itself, so it was not followed (for the log). */
  redirectIgnored?: string;
}

export interface IdentityFailure {
  status: number;
  reason: string;
  data?: Buffer;
}

/** `host:port,tpgt`, IPv6 in brackets (RFC 7143 §13.8). */
export function formatTargetAddress(address: string, port: number, tpgt: number): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return `${host}:${port},${tpgt}`;
}

export function checkIdentity(keys: ReadonlyMap<string, string>, pdu: LoginRequest, env: LoginEnv): Identity | IdentityFailure {
  const initiatorName = keys.get('InitiatorName');
  if (!initiatorName) return { status: LoginStatus.MISSING_PARAMETER, reason: 'InitiatorName missing' };
  const sessionType = keys.get('SessionType') ?? 'Normal';
  if (sessionType !== 'Normal' && sessionType !== 'Discovery') {
    return { status: LoginStatus.SESSION_TYPE_NOT_SUPPORTED, reason: 'unknown SessionType' };
  }
  const base: Identity = { initiatorName, sessionType, addToSession: false };
  const alias = keys.get('InitiatorAlias');
  if (alias !== undefined) base.initiatorAlias = alias;
  if (sessionType === 'Discovery') {
    if (pdu.tsih !== 0) return { status: LoginStatus.SESSION_DOES_NOT_EXIST, reason: 'discovery session cannot be joined' };
    return base;
  }
  const targetName = keys.get('TargetName');
  if (!targetName) return { status: LoginStatus.MISSING_PARAMETER, reason: 'TargetName missing' };
  const target = env.directory.findTarget(targetName);
  if (!target) return { status: LoginStatus.NOT_FOUND, reason: 'target not found' };
  const r = target.redirect;
  const ignored = r && redirectsToSelf(r, env) ? formatTargetAddress(r.address, r.port, r.tpgt ?? 1) : undefined;
  if (r && ignored === undefined) {
    return {
      status: r.permanent ? LoginStatus.TARGET_MOVED_PERMANENTLY : LoginStatus.TARGET_MOVED_TEMPORARILY,
      reason: 'target redirected',
      data: encodeText([['TargetAddress', formatTargetAddress(r.address, r.port, r.tpgt ?? 1)]]),
    };
  }
  if (!target.canAccess(initiatorName, env.initiatorAddress)) return { status: LoginStatus.AUTHORIZATION_FAILURE, reason: 'ACL refused' };
  base.target = target;
  if (ignored !== undefined) base.redirectIgnored = ignored;
  return joinOrStart(base, target, pdu, env);
}

function joinOrStart(base: Identity, target: IscsiTargetEntry, pdu: LoginRequest, env: LoginEnv): Identity | IdentityFailure {
  const existing = env.directory.findSession(target.tid, base.initiatorName, pdu.isid);
  if (pdu.tsih === 0) {
    if (existing) base.reinstate = existing.sid; // §6.3.5 session reinstatement
    return base;
  }
  // §6.3: a non-zero TSIH adds a connection to that session.
  if (!existing || existing.tsih !== pdu.tsih) return { status: LoginStatus.SESSION_DOES_NOT_EXIST, reason: 'no session with this TSIH' };
  // The session's negotiated MaxConnections (§13.2), not the configured one: an
  // initiator that settled on 1 gets no second connection.
  if (existing.connections >= existing.maxConnections) return { status: LoginStatus.TOO_MANY_CONNECTIONS, reason: 'too many connections' };
  base.addToSession = true;
  return base;
}

/**
 * Does a redirect lead back to this daemon? iSCSI carries no "already
 * redirected" flag, so a target cannot tell a redirected login from a first
 * one; a redirect to any of our own portals would loop (every login there is
 * redirected again). Ours: the address and port the login arrived on, or one
 * of the daemon's portals (src/util/self-endpoint.ts for wildcard listeners).
 */
export function redirectsToSelf(r: { address: string; port: number }, env: Pick<LoginEnv, 'arrivedOn' | 'ownPortals'>): boolean {
  const here = env.arrivedOn;
  const listeners = [...(here ? [here] : []), ...(env.ownPortals ?? [])];
  return isOwnEndpoint(r, listeners, here?.address);
}
