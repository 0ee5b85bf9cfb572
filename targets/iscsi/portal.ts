/**
 * The iSCSI portal (main thread, management plane): accepts TCP connections,
 * frames login PDUs, runs the login engine, serves Discovery sessions, and
 * hands Normal sessions to their target's loop.
 *
 * Hand-off contract: after the engine completes a Normal login the portal
 * stops reading (socket.pause(), listeners removed), sends nothing more, and
 * calls `directory.handOff()` synchronously with the unframed leftover bytes
 * and the *encoded final Login Response*, which the target loop sends — so no
 * byte of the full feature phase is ever read or written by this thread.
 *
 * Login slots (src/util/admission.ts): at most `maxLogins` connections per
 * listener and `maxLoginsPerAddress` per peer address are in login (or in a
 * Discovery session, which stays on this thread until it closes). At a
 * limit the newest connection gets in and the oldest one that has sent
 * nothing is closed, else one quiet for 1 s, else the newcomer is refused;
 * so idle TCP connections cannot exhaust the daemon's descriptors or keep a
 * real initiator out. What is turned away is logged in rate-limited
 * summaries (`iscsi login slots: ...`).
 *
 * Failed CHAP logins are throttled (login/throttle.ts): the engine asks for a
 * `wait` before a throttled outcome and the connection performs it with its
 * own timer (other logins go on); login-failure log lines are rate-limited
 * and say how many were left out.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AdmissionTable, DEFAULT_ADMISSION_LIMITS, peerKey, type AdmissionCounts, type AdmissionEntry } from '../../src/util/admission.js';
import { AdmissionLog } from '../../src/util/admission-log.js';
import { Op } from './constants.js';
import type { IscsiDirectory, IscsiHandOffState } from './directory.js';
import { buildSendTargets, DiscoverySession } from './discovery.js';
import { encodePdu, encodePduBuffer, PduFramer, type DigestSettings } from './framer.js';
import { LoginEngine, type AuthFailureKind, type LoginAction, type LoginResult } from './login/engine.js';
import { LogLimiter } from '../../src/obs/log-limiter.js';
import { AuthThrottle, type ThrottleOptions } from './login/throttle.js';
import { isViolation, type Draft, type Pdu, type PduViolation, type TargetPdu } from './pdu-types.js';

export interface IscsiPortalOptions {
  directory: IscsiDirectory;
  log: Logger;
  /** Close connections that have not finished login in time (default 15 s). */
  loginTimeoutMs?: number;
  /** Connections in login or discovery at once, per listener (default 1024). */
  maxLogins?: number;
  /** Connections in login or discovery at once from one peer address, per listener (default 128). */
  maxLoginsPerAddress?: number;
  /** At most one log line per listener in this time about evicted, refused and timed-out connections (default 10 s). */
  admissionLogIntervalMs?: number;
  /** Randomness source (CHAP challenges); tests may pin it. */
  random?: (n: number) => Buffer;
  /** Failed-authentication throttle settings (defaults: DEFAULT_THROTTLE). */
  throttle?: Partial<ThrottleOptions>;
  /** Called once per failed authentication (the metric). */
  onAuthFailure?: (kind: AuthFailureKind) => void;
  /** At most this many login-failure log lines per 10 s (default 10); the rest are counted. */
  failureLogBurst?: number;
}

/** What every connection of one portal shares. */
interface PortalShared {
  opts: IscsiPortalOptions;
  throttle: AuthThrottle;
  failureLog: LogLimiter;
  /** Monotonic milliseconds. */
  now: () => number;
}

/** During login the default MaxRecvDataSegmentLength (8192) applies; allow headroom. */
const LOGIN_MAX_SEGMENT = 65536;

export const DEFAULT_LOGIN_TIMEOUT_MS = 15_000;

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** One listening socket with its own login slots. */
class Listener {
  readonly table: AdmissionTable<PortalConnection>;
  readonly log: AdmissionLog;

  constructor(
    readonly server: net.Server,
    /** "127.0.0.1:3260" or "[::1]:3260", the bound port once listening. */
    public name: string,
    shared: PortalShared,
  ) {
    const o = shared.opts;
    this.table = new AdmissionTable({
      ...DEFAULT_ADMISSION_LIMITS,
      ...(o.maxLogins !== undefined ? { maxPerListener: o.maxLogins } : {}),
      ...(o.maxLoginsPerAddress !== undefined ? { maxPerAddress: o.maxLoginsPerAddress } : {}),
    });
    this.log = new AdmissionLog(o.admissionLogIntervalMs ?? 10_000, (counts) => this.logSlots(o, counts), shared.now);
  }

  private logSlots(o: IscsiPortalOptions, counts: AdmissionCounts): void {
    const limits = this.table.limits;
    o.log.warn(
      {
        portal: this.name,
        ...counts,
        logins: this.table.size,
        maxLogins: limits.maxPerListener,
        maxLoginsPerAddress: limits.maxPerAddress,
        loginTimeoutMs: o.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
      },
      'iscsi login slots: idle connections evicted, refused or timed out',
    );
  }
}

export class IscsiPortal {
  private readonly listeners: Listener[] = [];
  private readonly shared: PortalShared;

  constructor(opts: IscsiPortalOptions) {
    this.shared = {
      opts,
      throttle: new AuthThrottle(opts.throttle),
      failureLog: new LogLimiter(opts.failureLogBurst ?? 10, 10_000),
      now: () => performance.now(),
    };
  }

  /** Listen on address:port (port 0 = ephemeral); resolves to the bound address. */
  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    const server = net.createServer();
    const listener = new Listener(server, endpoint(address, port), this.shared);
    server.on('connection', (socket: net.Socket) => this.accept(listener, socket));
    this.listeners.push(listener);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        const a = server.address() as net.AddressInfo;
        listener.name = endpoint(a.address, a.port);
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** Connections still in login or discovery on this portal (handed-off ones are not ours). */
  get openConnections(): number {
    return this.listeners.reduce((n, l) => n + l.table.size, 0);
  }

  /** Stop listening and drop connections still in login or discovery (handed-off ones are not ours). */
  async close(): Promise<void> {
    for (const l of this.listeners) {
      for (const c of [...l.table.entries()]) c.destroy();
      l.log.flush();
    }
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
    this.listeners.length = 0;
  }

  private accept(listener: Listener, socket: net.Socket): void {
    const now = this.shared.now();
    const address = peerKey(socket.remoteAddress);
    const decision = listener.table.admit(address, now);
    if (!decision.admit) {
      socket.destroy();
      listener.log.record('refused', address);
      return;
    }
    if (decision.evict) {
      decision.evict.destroy();
      listener.log.record('evicted', decision.evict.peerAddress);
    }
    socket.setNoDelay(true);
    const conn = new PortalConnection(socket, this.shared, listener, address, now);
    listener.table.add(conn);
    conn.start();
  }
}

/** One connection in login, then (Discovery) in its full feature phase; an entry of its listener's login slots. */
class PortalConnection implements AdmissionEntry {
  private readonly framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: LOGIN_MAX_SEGMENT });
  private readonly engine: LoginEngine;
  private discovery?: DiscoverySession;
  private digests: DigestSettings = { headerDigest: false, dataDigest: false };
  private timer?: NodeJS.Timeout;
  /** A throttled outcome waiting to be sent. */
  private waitTimer?: NodeJS.Timeout;
  private done = false;
  /** Out of the login slots (closed or handed off). */
  private released = false;
  private readonly peer: string;
  private readonly opts: IscsiPortalOptions;
  lastActivityAt: number;
  bytesReceived = 0;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    private readonly socket: net.Socket,
    private readonly shared: PortalShared,
    private readonly listener: Listener,
    readonly peerAddress: string | undefined,
    readonly acceptedAt: number,
  ) {
    this.opts = shared.opts;
    this.lastActivityAt = acceptedAt;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.engine = new LoginEngine({
      directory: this.opts.directory,
      initiatorAddress: address,
      tpgt: this.tpgt(),
      arrivedOn: { address: socket.localAddress?.replace(/^::ffff:/, '') ?? '', port: socket.localPort ?? 0 },
      ownPortals: this.opts.directory.portals(),
      throttle: shared.throttle,
    });
  }

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => this.finish());
    this.timer = setTimeout(() => {
      // Counted in the login-slots summary, not the login-failure lines: a flood of idle peers must not crowd those out.
      this.listener.log.record('timedOut', this.peerAddress);
      this.destroy();
    }, this.opts.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS);
  }

  /** Evicted, timed out or the portal closing: the slot is free at once, not when the close event comes. */
  destroy(): void {
    this.done = true;
    this.socket.destroy();
    this.finish();
  }

  private tpgt(): number {
    const local = this.socket.localAddress?.replace(/^::ffff:/, '');
    const port = this.socket.localPort;
    const portals = this.opts.directory.portals();
    const match = portals.find((p) => p.port === port && (p.address === local || p.address === '0.0.0.0' || p.address === '::'));
    return match?.tpgt ?? portals[0]?.tpgt ?? 1;
  }

  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (this.released) return;
    this.released = true;
    this.listener.table.remove(this);
  }

  private receive(chunk: Buffer): void {
    this.listener.table.received(this, chunk.length, this.shared.now());
    if (this.waitTimer) return this.dropPipelined();
    this.framer.push(chunk);
    while (!this.done) {
      if (this.waitTimer) {
        if (this.framer.pendingBytes > 0) this.dropPipelined(); // more than the request now waiting
        return;
      }
      const pdu = this.framer.next();
      if (pdu === undefined) return;
      if (this.discovery) this.runDiscovery(pdu);
      else this.runLogin(pdu);
    }
  }

  /**
   * Bytes while a throttled response is pending. Login is lockstep (RFC 7143
   * §6.3), and answering a pipelined request early would tell a throttled
   * success from a failure: drop the connection.
   */
  private dropPipelined(): void {
    this.logFailure({ conn: this.peer, err: 'login request sent while a login response was pending' });
    this.done = true;
    this.socket.destroy();
  }

  private runLogin(pdu: Pdu | PduViolation): void {
    if (isViolation(pdu) || pdu.opcode !== Op.LOGIN_REQ) {
      this.logFailure({ conn: this.peer, err: isViolation(pdu) ? pdu.violation : 'non-login pdu in login phase' });
      this.socket.destroy();
      this.done = true;
      return;
    }
    this.performAll(this.engine.step({ type: 'pdu', pdu, random: (this.opts.random ?? randomBytes)(64), now: this.shared.now() }));
  }

  /** Perform actions in order; a `wait` defers the rest to a timer of this connection. */
  private performAll(actions: LoginAction[]): void {
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      if (action.type !== 'wait') {
        this.perform(action);
        continue;
      }
      const rest = actions.slice(i + 1);
      this.waitTimer = setTimeout(() => {
        this.waitTimer = undefined;
        // The peer was waiting on us, not stalled: its turn starts when the delayed response goes out.
        this.lastActivityAt = this.shared.now();
        if (!this.socket.destroyed) this.performAll(rest);
      }, action.ms);
      return;
    }
  }

  /** A login-failure line, rate-limited across the portal (a peer can trigger it at will). */
  private logFailure(fields: Record<string, unknown>, msg = 'iscsi login failed'): void {
    const ok = this.shared.failureLog.take(this.shared.now());
    if (!ok) return;
    this.opts.log.warn(ok.suppressed ? { ...fields, suppressed: ok.suppressed } : fields, msg);
  }

  private perform(action: Exclude<LoginAction, { type: 'wait' }>): void {
    if (action.type === 'send') {
      this.socket.write(encodePduBuffer(action.pdu));
    } else if (action.type === 'fail') {
      if (action.auth) this.opts.onAuthFailure?.(action.auth);
      this.logFailure({ conn: this.peer, err: action.reason, status: action.status });
      this.done = true;
      this.socket.end(encodePduBuffer(action.pdu));
    } else if (action.result.sessionType === 'Discovery') {
      this.startDiscovery(action.pdu, action.result);
    } else {
      this.handOff(action.pdu, action.result);
    }
  }

  private startDiscovery(pdu: Draft<TargetPdu>, r: LoginResult): void {
    this.socket.write(encodePduBuffer(pdu));
    if (this.timer) clearTimeout(this.timer);
    this.opts.log.info({ initiator: r.initiatorName, conn: this.peer }, 'iscsi discovery login succeeded');
    const p = r.params;
    this.digests = { headerDigest: p.headerDigest, dataDigest: p.dataDigest };
    this.framer.limits = { ...this.digests, maxRecvDataSegmentLength: p.targetMaxRecvDataSegmentLength };
    const dir = this.opts.directory;
    const addr = this.socket.remoteAddress ?? '';
    this.discovery = new DiscoverySession(
      { visibleTargets: () => dir.listTargets(r.initiatorName, addr), portals: () => dir.portals(), localAddress: this.socket.localAddress?.replace(/^::ffff:/, '') ?? '' },
      r.statSN,
      r.expCmdSN,
      p.initiatorMaxRecvDataSegmentLength,
    );
  }

  private runDiscovery(pdu: Pdu | PduViolation): void {
    for (const a of this.discovery!.step(pdu)) {
      if (a.type === 'send') {
        this.socket.cork();
        for (const part of encodePdu(a.pdu, this.digests)) this.socket.write(part);
        this.socket.uncork();
      } else {
        if (a.reason !== 'logout') this.opts.log.warn({ conn: this.peer, err: a.reason }, 'iscsi discovery connection closed');
        this.done = true;
        this.socket.end();
      }
    }
  }

  private handOff(pdu: Draft<TargetPdu>, r: LoginResult): void {
    const target = r.target!;
    this.done = true;
    // Stop reading before anything else; the target loop owns the socket from here.
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    this.finish();
    const local = this.socket.localAddress?.replace(/^::ffff:/, '') ?? '';
    const state: IscsiHandOffState = {
      finalResponse: new Uint8Array(encodePduBuffer(pdu)),
      initiatorName: r.initiatorName,
      isid: r.isid,
      tsih: r.tsih,
      cid: r.cid,
      targetName: target.name,
      tpgt: this.engineTpgt(),
      params: r.params,
      expCmdSN: r.expCmdSN,
      statSN: r.statSN,
      addToSession: r.addToSession,
      sendTargets: buildSendTargets([target], this.opts.directory.portals(), local),
    };
    if (r.initiatorAlias !== undefined) state.initiatorAlias = r.initiatorAlias;
    if (r.reinstate !== undefined) state.reinstate = r.reinstate;
    if (r.redirectIgnored !== undefined) {
      this.logFailure({ target: target.name, conn: this.peer, redirect: r.redirectIgnored }, 'iscsi redirect to this daemon ignored (it would loop)');
    }
    this.opts.log.info({ target: target.name, initiator: r.initiatorName, conn: this.peer }, 'iscsi login succeeded');
    const conn = { socket: this.socket, leftover: this.framer.takeLeftover(), state, sid: r.tsih, cid: r.cid };
    this.opts.directory.handOff(target.tid, r.reinstate !== undefined ? { ...conn, reinstate: r.reinstate } : conn);
  }

  private engineTpgt(): number {
    return this.tpgt();
  }
}
