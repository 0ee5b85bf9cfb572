/**
 * What the iSCSI portal (main thread, management plane) needs from the rest
 * of the daemon. The lead implements `IscsiDirectory` in src/mgmt; the test
 * harness (test/helpers/iscsi-standalone.ts) has a tiny in-process one.
 *
 * Every method is synchronous and called on the main thread during login.
 */
import type { Socket } from 'node:net';
import type { NegotiatedParams } from './login/keys.js';

export interface ChapAccount {
  user: string;
  secret: string;
}

export interface IscsiPortalAddress {
  /** Listening address; '0.0.0.0' / '::' mean "the address the initiator connected to". */
  address: string;
  port: number;
  tpgt: number;
}

export interface IscsiTargetEntry {
  tid: number;
  name: string;
  alias?: string;
  /** Login redirection (RFC 7143 §11.13.5 class 1). */
  redirect?: { address: string; port: number; tpgt?: number; permanent: boolean };
  /** ACL: may this initiator (IQN, peer IP) log in / see the target in discovery? */
  canAccess(initiatorName: string, initiatorAddress: string): boolean;
  /** Accounts the initiator may authenticate with; empty = no CHAP required. */
  incoming: ChapAccount[];
  /** Account the target authenticates with in mutual CHAP. */
  outgoing?: ChapAccount;
  /** Login key overrides of DEFAULT_TARGET_KEYS (e.g. MaxRecvDataSegmentLength). */
  params?: Record<string, string>;
}

/** A session the management plane knows about (for reinstatement / adding connections). */
export interface IscsiSessionInfo {
  sid: number;
  tsih: number;
  connections: number;
  /** MaxConnections the session negotiated on its leading login (RFC 7143 §13.2). */
  maxConnections: number;
}

/**
 * Everything the target loop needs to continue a connection after login.
 * Structured-cloneable (crosses postMessage): no Buffers of Node type, no
 * functions.
 */
export interface IscsiHandOffState {
  /** Encoded final Login Response (T=1, NSG=FFP); the target loop sends it first. */
  finalResponse: Uint8Array;
  initiatorName: string;
  initiatorAlias?: string;
  /** 12 hex digits. */
  isid: string;
  tsih: number;
  cid: number;
  targetName: string;
  tpgt: number;
  params: NegotiatedParams;
  /** ExpCmdSN after login (the CmdSN of the first non-immediate command). */
  expCmdSN: number;
  /** StatSN for the first response after the final login response. */
  statSN: number;
  /** True when this connection joins an existing session (TSIH was non-zero). */
  addToSession: boolean;
  /** SendTargets text for this target (TargetName + TargetAddress lines), for Text requests in FFP. */
  sendTargets: [string, string][];
  /** Session reinstatement (RFC 7143 §6.3.5): the target loop closes this sid before adopting. */
  reinstate?: number;
}

export interface IscsiHandOff {
  socket: Socket;
  /** Bytes read past the final Login Request. */
  leftover: Buffer;
  state: IscsiHandOffState;
  sid: number;
  cid: number;
  /** Session reinstatement (RFC 7143 §6.3.5): close this sid before adopting. */
  reinstate?: number;
}

export interface IscsiDirectory {
  portals(): IscsiPortalAddress[];
  findTarget(name: string): IscsiTargetEntry | undefined;
  /** Targets this initiator may see (ACL applied), for SendTargets=All. */
  listTargets(initiatorName: string, initiatorAddress: string): IscsiTargetEntry[];
  /** CHAP accounts for discovery sessions; empty incoming = no CHAP. */
  discoveryAuth(): { incoming: ChapAccount[]; outgoing?: ChapAccount };
  findSession(tid: number, initiatorName: string, isid: string): IscsiSessionInfo | undefined;
  /** A new session id, also used as the TSIH: 1..65535, not in use. */
  allocateSid(): number;
  /**
   * Take the connection to target `tid`'s loop. Called synchronously right
   * after the portal stopped reading; the portal never touches the socket again.
   */
  handOff(tid: number, conn: IscsiHandOff): void;
}
