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
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import { Op } from './constants.js';
import type { IscsiDirectory, IscsiHandOffState } from './directory.js';
import { buildSendTargets, DiscoverySession } from './discovery.js';
import { encodePdu, encodePduBuffer, PduFramer, type DigestSettings } from './framer.js';
import { LoginEngine, type LoginAction, type LoginResult } from './login/engine.js';
import { isViolation, type Draft, type Pdu, type PduViolation, type TargetPdu } from './pdu-types.js';

export interface IscsiPortalOptions {
  directory: IscsiDirectory;
  log: Logger;
  /** Close connections that have not finished login in time (default 15 s). */
  loginTimeoutMs?: number;
  /** Randomness source (CHAP challenges); tests may pin it. */
  random?: (n: number) => Buffer;
}

/** During login the default MaxRecvDataSegmentLength (8192) applies; allow headroom. */
const LOGIN_MAX_SEGMENT = 65536;

export class IscsiPortal {
  private readonly servers: net.Server[] = [];
  private readonly live = new Set<net.Socket>();

  constructor(private readonly opts: IscsiPortalOptions) {}

  /** Listen on address:port (port 0 = ephemeral); resolves to the bound address. */
  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    const server = net.createServer((socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        const a = server.address() as net.AddressInfo;
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** Stop listening and drop connections still in login or discovery (handed-off ones are not ours). */
  async close(): Promise<void> {
    for (const s of this.live) s.destroy();
    this.live.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.live.add(socket);
    new PortalConnection(socket, this.opts, () => this.live.delete(socket)).start();
  }
}

class PortalConnection {
  private readonly framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: LOGIN_MAX_SEGMENT });
  private readonly engine: LoginEngine;
  private discovery?: DiscoverySession;
  private digests: DigestSettings = { headerDigest: false, dataDigest: false };
  private timer?: NodeJS.Timeout;
  private done = false;
  private readonly peer: string;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: IscsiPortalOptions,
    private readonly forget: () => void,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.engine = new LoginEngine({ directory: opts.directory, initiatorAddress: socket.remoteAddress ?? '', tpgt: this.tpgt() });
  }

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => this.finish());
    this.timer = setTimeout(() => {
      this.opts.log.warn({ conn: this.peer }, 'iscsi login timed out');
      this.socket.destroy();
    }, this.opts.loginTimeoutMs ?? 15_000);
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
    this.forget();
  }

  private receive(chunk: Buffer): void {
    this.framer.push(chunk);
    while (!this.done) {
      const pdu = this.framer.next();
      if (pdu === undefined) return;
      if (this.discovery) this.runDiscovery(pdu);
      else this.runLogin(pdu);
    }
  }

  private runLogin(pdu: Pdu | PduViolation): void {
    if (isViolation(pdu) || pdu.opcode !== Op.LOGIN_REQ) {
      this.opts.log.warn({ conn: this.peer, err: isViolation(pdu) ? pdu.violation : 'non-login pdu in login phase' }, 'iscsi login failed');
      this.socket.destroy();
      this.done = true;
      return;
    }
    for (const action of this.engine.step({ type: 'pdu', pdu, random: (this.opts.random ?? randomBytes)(64) })) this.perform(action);
  }

  private perform(action: LoginAction): void {
    if (action.type === 'send') {
      this.socket.write(encodePduBuffer(action.pdu));
    } else if (action.type === 'fail') {
      this.opts.log.warn({ conn: this.peer, err: action.reason, status: action.status }, 'iscsi login failed');
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
    this.opts.log.info({ target: target.name, initiator: r.initiatorName, conn: this.peer }, 'iscsi login succeeded');
    const conn = { socket: this.socket, leftover: this.framer.takeLeftover(), state, sid: r.tsih, cid: r.cid };
    this.opts.directory.handOff(target.tid, r.reinstate !== undefined ? { ...conn, reinstate: r.reinstate } : conn);
  }

  private engineTpgt(): number {
    return this.tpgt();
  }
}
