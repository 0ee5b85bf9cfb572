/**
 * The 'iscsi' ProtocolModule (src/worker/contract.ts): one IscsiTarget per
 * target loop, owning the target's SCSI emulation and its sessions.
 * `adopt()` takes a connection after login (portal.ts), sends the final
 * Login Response and runs the full feature phase.
 */
import type { AdoptedConnection, LunChange, ProtocolModule, ProtocolTarget, TargetView } from '../../../src/worker/contract.js';
import type { ScsiTargetServer, ScsiTransportHooks } from '../../scsi/types.js';
import { AsyncEvent, Op, RESERVED_TAG } from '../constants.js';
import type { IscsiHandOffState } from '../directory.js';
import { Connection, DEFAULT_CONNECTION_OPTIONS, type ConnectionOptions } from './connection.js';
import { Session, type SessionHost } from './session.js';
import { abortTasks } from './tmf.js';
import { ScsiTargetDevice } from '../../scsi/index.js';

export type ScsiFactory = (target: TargetView, hooks: ScsiTransportHooks) => ScsiTargetServer;

export function isIscsiHandOffState(s: unknown): s is IscsiHandOffState & { reinstate?: number } {
  const x = s as IscsiHandOffState | undefined;
  return typeof x === 'object' && x !== null && x.finalResponse instanceof Uint8Array && typeof x.isid === 'string' && typeof x.params === 'object';
}

/** How long shutdown() waits for initiators to log out after the Async Message. */
const LOGOUT_GRACE_SECONDS = 2;

export class IscsiTarget implements ProtocolTarget, SessionHost {
  readonly scsi: ScsiTargetServer;
  private readonly bySid = new Map<number, Session>();

  constructor(
    readonly target: TargetView,
    scsiFactory: ScsiFactory,
    private readonly connOptions: ConnectionOptions = DEFAULT_CONNECTION_OPTIONS,
  ) {
    this.scsi = scsiFactory(target, { abortTasks: (ids, lun) => this.abortFor(ids, lun) });
  }

  sessions(): Iterable<Session> {
    return this.bySid.values();
  }

  sessionClosed(session: Session): void {
    if (this.bySid.get(session.sid) === session) this.bySid.delete(session.sid);
  }

  adopt(conn: AdoptedConnection): void {
    const state = conn.state;
    const log = this.target.log;
    if (!isIscsiHandOffState(state)) {
      log.warn({ target: this.target.name, conn: conn.peer }, 'iscsi hand-off without iscsi state, closing');
      conn.stream.destroy();
      return;
    }
    if (state.reinstate !== undefined) this.bySid.get(state.reinstate)?.close('session reinstatement');
    let session = state.addToSession ? this.bySid.get(conn.sid) : undefined;
    if (state.addToSession && !session) {
      conn.stream.destroy();
      return;
    }
    // The portal checked MaxConnections against the session's connections as the
    // management plane last heard of them; two joins racing past that check stop here.
    if (session && !session.conns.has(conn.cid) && session.conns.size >= session.params.maxConnections) {
      log.warn({ target: this.target.name, sid: conn.sid, conn: conn.peer }, 'iscsi connection refused: MaxConnections reached');
      conn.stream.destroy();
      return;
    }
    if (!session) session = this.openSession(conn.sid, state);
    else session.conns.get(conn.cid)?.close('connection reinstatement');
    const p = state.params;
    const c = new Connection(session, conn.stream, conn.cid, conn.peer, this.target, {
      statSN: state.statSN,
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      targetMrdsl: p.targetMaxRecvDataSegmentLength,
      initiatorMrdsl: p.initiatorMaxRecvDataSegmentLength,
    }, this.connOptions);
    session.addConnection(c);
    this.target.report({ type: 'conn-open', sid: conn.sid, cid: conn.cid, peer: conn.peer, local: conn.local });
    this.target.connectionDelta(1);
    const fr = state.finalResponse;
    c.start(Buffer.from(fr.buffer, fr.byteOffset, fr.byteLength), conn.leftover);
  }

  private openSession(sid: number, state: IscsiHandOffState): Session {
    const session = new Session(sid, this, state.params, state);
    this.bySid.set(sid, session);
    this.scsi.addNexus(session.nexus);
    this.target.report({ type: 'session-open', sid, protocol: 'iscsi', initiator: state.initiatorName, isid: state.isid, tsih: state.tsih, maxConnections: state.params.maxConnections });
    this.target.sessionDelta(1);
    this.target.log.info({ target: this.target.name, sid, initiator: state.initiatorName }, 'iscsi session opened');
    return session;
  }

  lunChanged(change: LunChange): void {
    this.scsi.lunChanged(change);
  }

  async closeSession(sid: number, _reason: string): Promise<void> {
    this.bySid.get(sid)?.close(_reason);
  }

  async closeConnection(sid: number, cid: number, reason: string): Promise<void> {
    this.bySid.get(sid)?.conns.get(cid)?.close(reason);
  }

  /** RFC 7143 §11.9.1 AsyncEvent 1: ask every initiator to log out, then close what is left. */
  async shutdown(reason: string): Promise<void> {
    for (const s of this.bySid.values()) {
      for (const c of s.conns.values()) {
        c.send({
          opcode: Op.ASYNC, final: true, lun: 0n, itt: RESERVED_TAG, statSN: c.takeStatSN(), expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN,
          asyncEvent: AsyncEvent.REQUEST_LOGOUT, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: LOGOUT_GRACE_SECONDS,
        });
      }
    }
    const deadline = LOGOUT_GRACE_SECONDS * 1000;
    for (let waited = 0; this.bySid.size > 0 && waited < deadline; waited += 100) {
      await new Promise<void>((resolve) => this.target.setTimer(100, resolve));
    }
    for (const s of [...this.bySid.values()]) s.close(reason);
  }

  /** ScsiTransportHooks.abortTasks (PREEMPT AND ABORT): no responses for these tasks. */
  private abortFor(nexusIds: string[], lun: number): void {
    for (const s of this.bySid.values()) if (nexusIds.includes(s.nexus.id)) abortTasks(s, (t) => t.lun === lun);
  }
}

/** Build the 'iscsi' protocol module; the caller supplies the SCSI emulation (targets/scsi ScsiTargetDevice). */
export function createIscsiProtocol(scsi: ScsiFactory, connOptions?: ConnectionOptions): ProtocolModule {
  return { name: 'iscsi', create: (target) => new IscsiTarget(target, scsi, connOptions) };
}

/** The module the target loops run: iSCSI over targets/scsi's ScsiTargetDevice. */
export const iscsiProtocol: ProtocolModule = createIscsiProtocol((target, hooks) => new ScsiTargetDevice(target, hooks));
