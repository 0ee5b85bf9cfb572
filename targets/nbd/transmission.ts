/**
 * The NBD `ProtocolModule`: runs transmission for connections the
 * management plane handed over after NBD_OPT_GO / NBD_OPT_EXPORT_NAME.
 * Each NBD connection is one session (sid from the management plane,
 * cid 0).
 *
 * Resize: NBD has no way to tell a connected client that the export size
 * changed (the RESIZE extension is experimental and unimplemented by
 * clients), so a connection keeps validating against the size it was sent
 * at negotiation; a shrunken device rejects I/O past its new end itself.
 * Clients see a new size when they reconnect.
 */
import type {
  AdoptedConnection,
  LunChange,
  ProtocolModule,
  ProtocolTarget,
  TargetView,
} from '../../src/worker/contract.js';
import { DEFAULT_REPLY_LIMITS, ReplyBudget } from '../../src/worker/reply-budget.js';
import { DEFAULT_CONNECTION_LIMITS, NbdConnection, type ConnectionLimits } from './connection.js';
import type { NbdHandOffState } from './state.js';

interface Session {
  conn: NbdConnection;
  lun: number;
  closed: Promise<void>;
}

/** Cheap shape check of state that crossed postMessage. */
export function isNbdHandOffState(s: unknown): s is NbdHandOffState {
  const v = s as Partial<NbdHandOffState> | undefined;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.protocol === 'nbd' &&
    typeof v.lun === 'number' &&
    typeof v.sizeBytes === 'number' &&
    typeof v.transmissionFlags === 'number' &&
    v.finalReply instanceof Uint8Array &&
    Array.isArray(v.metaContextIds) &&
    (v.replyMode === 'simple' || v.replyMode === 'structured' || v.replyMode === 'extended')
  );
}

export class NbdTarget implements ProtocolTarget {
  readonly receivesInto = true;
  private readonly sessions = new Map<number, Session>();
  private readonly budget: ReplyBudget;

  constructor(
    private readonly target: TargetView,
    private readonly limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
  ) {
    this.budget = target.replyBudget ?? ReplyBudget.local(DEFAULT_REPLY_LIMITS, (ms, fn) => target.setTimer(ms, fn));
  }

  adopt(c: AdoptedConnection): void {
    const log = this.target.log.child({ target: this.target.name, sid: c.sid, conn: c.peer });
    const state = c.state;
    if (!isNbdHandOffState(state)) {
      log.warn('nbd hand-off state is malformed, closing');
      c.stream.destroy();
      return;
    }
    const lun = this.target.lun(state.lun);
    if (!lun) {
      // The final reply was not sent yet, so the client sees a plain disconnect.
      log.warn({ lun: state.lun }, 'nbd export lun vanished before hand-off, closing');
      c.stream.destroy();
      return;
    }
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const conn = new NbdConnection(c.stream, lun, state, log.child({ lun: state.lun }), this.limits, this.budget.account(), (reason) => {
      this.sessions.delete(c.sid);
      this.target.report({ type: 'conn-close', sid: c.sid, cid: c.cid });
      this.target.report({ type: 'session-close', sid: c.sid });
      this.target.connectionDelta(-1);
      this.target.sessionDelta(-1);
      log.info({ reason }, 'nbd session closed');
      resolveClosed();
    }, c.receiver);
    this.sessions.set(c.sid, { conn, lun: state.lun, closed });
    this.target.sessionDelta(1);
    this.target.connectionDelta(1);
    this.target.report({ type: 'session-open', sid: c.sid, protocol: 'nbd', initiator: c.peer });
    this.target.report({ type: 'conn-open', sid: c.sid, cid: c.cid, peer: c.peer, local: c.local });
    log.info({ export: state.exportName, replyMode: state.replyMode, tls: state.tls }, 'nbd session opened');
    conn.start(c.leftover);
  }

  lunChanged(change: LunChange): void {
    if (change.kind === 'removed') {
      for (const s of this.sessions.values()) if (s.lun === change.lun) s.conn.shutdown();
    } else if (change.kind === 'resized') {
      this.target.log.info({ lun: change.lun }, 'nbd clients keep the negotiated size until they reconnect');
    }
  }

  async closeSession(sid: number, reason: string): Promise<void> {
    const s = this.sessions.get(sid);
    if (!s) return;
    s.conn.destroy(reason);
    await s.closed;
  }

  async closeConnection(sid: number, _cid: number, reason: string): Promise<void> {
    await this.closeSession(sid, reason);
  }

  /**
   * proto.md "Terminating the transmission phase": requests read from now
   * on get NBD_ESHUTDOWN, those in flight complete, then each connection
   * closes. Connections still open after `graceMs` are destroyed.
   */
  async shutdown(_reason: string, graceMs = 5000): Promise<void> {
    const all = [...this.sessions.values()];
    for (const s of all) s.conn.shutdown();
    const cancel = this.target.setTimer(graceMs, () => {
      for (const s of all) s.conn.destroy('shutdown grace period over');
    });
    await Promise.all(all.map((s) => s.closed));
    cancel();
  }
}

export function createNbdProtocol(limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS): ProtocolModule {
  return { name: 'nbd', create: (target: TargetView) => new NbdTarget(target, limits) };
}

/** The NBD protocol with default limits. */
export const nbdProtocol: ProtocolModule = createNbdProtocol();
