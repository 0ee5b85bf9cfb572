/**
 * The NBD portal on the main thread (management plane): accepts TCP and
 * Unix-socket connections, admits them to a handshake slot
 * (src/util/admission.ts: per-listener and per-address limits, idle peers
 * evicted first), runs option haggling (handshake.ts) and hands each
 * connection that reaches transmission to its target's loop through
 * `NbdDirectory.handOff`.
 *
 * Hand-off contract: the stream is paused and this shell's listeners are
 * removed before `handOff` is called; the final option reply (ACK to GO or
 * the EXPORT_NAME reply) travels in `state.finalReply` and is sent by the
 * transmission side, so no request byte is ever read on the main thread.
 * `leftover` holds bytes already read past the last option (normally
 * empty; clients wait for the final reply).
 */
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { LogLimiter } from '../../src/obs/log-limiter.js';
import { AdmissionTable, DEFAULT_ADMISSION_LIMITS, peerKey, type AdmissionCounts, type AdmissionEntry } from '../../src/util/admission.js';
import { AdmissionLog, type TurnedAway } from '../../src/util/admission-log.js';
import { HandshakeEngine, type HandshakeAction, type HandshakeConfig, type NbdExportLookup } from './handshake.js';
import type { NbdHandOffState } from './state.js';
import { NbdTls, type NbdTlsConfig } from './tls.js';

export interface NbdHandOffConnection {
  /** A net.Socket (plain TCP or Unix socket) or a tls.TLSSocket (after STARTTLS); paused. */
  stream: Duplex;
  leftover: Buffer;
  state: NbdHandOffState;
  sid: number;
  peer: string;
  local: string;
}

/** Implemented by the management plane: the export table and the way into target loops. */
export interface NbdDirectory extends NbdExportLookup {
  allocateSid(): number;
  /** Take over a connection; must not throw (on failure, destroy the stream). */
  handOff(tid: number, conn: NbdHandOffConnection): void;
}

export interface NbdServerOptions {
  directory: NbdDirectory;
  log: Logger;
  tls?: NbdTlsConfig;
  /** Option haggling must finish within this time (default 10 s, as qemu-nbd's --handshake-limit). */
  handshakeTimeoutMs?: number;
  /** Connections in option haggling at once, per listener (default 1024); see src/util/admission.ts. */
  maxHandshakes?: number;
  /** Connections in option haggling at once from one peer address, per listener (default 128). */
  maxHandshakesPerAddress?: number;
  /** At most one log line per listener in this time about evicted, refused and timed-out connections (default 10 s). */
  admissionLogIntervalMs?: number;
  limits?: Pick<HandshakeConfig, 'maxOptionBytes' | 'absurdOptionBytes' | 'maxOptions'>;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_UNIX_SOCKET_MODE = 0o600;

function endpoint(address: string | undefined, port: number | undefined): string {
  return address?.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** One listening socket with its own handshake table. */
class Listener {
  readonly table: AdmissionTable<HandshakeSession>;
  readonly log: AdmissionLog;

  constructor(
    readonly server: net.Server,
    /** "127.0.0.1:10809", "[::1]:10809" or "unix:/path". */
    public name: string,
    options: NbdServerOptions,
    emit: (listener: Listener, counts: AdmissionCounts) => void,
    readonly unixPath?: string,
  ) {
    this.table = new AdmissionTable({
      ...DEFAULT_ADMISSION_LIMITS,
      ...(options.maxHandshakes !== undefined ? { maxPerListener: options.maxHandshakes } : {}),
      ...(options.maxHandshakesPerAddress !== undefined ? { maxPerAddress: options.maxHandshakesPerAddress } : {}),
    });
    this.log = new AdmissionLog(options.admissionLogIntervalMs ?? 10_000, (counts) => emit(this, counts));
  }
}

export class NbdServer {
  private readonly listeners: Listener[] = [];
  private readonly tls: NbdTls | undefined;
  private shuttingDown = false;
  /** Failed TLS handshakes are a peer's to repeat at will (a PSK guesser): their log lines are limited. */
  readonly tlsFailureLog = new LogLimiter(10, 10_000);

  constructor(readonly options: NbdServerOptions) {
    this.tls = options.tls ? new NbdTls(options.tls) : undefined;
  }

  /** Listen on one address (IPv4 or IPv6); may be called several times. Port 0 = ephemeral. */
  async listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true });
    const listener = new Listener(server, endpoint(host, port), this.options, this.logAdmission);
    server.on('connection', (s: net.Socket) => this.accept(listener, s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.watch(listener);
    const bound = server.address() as AddressInfo;
    listener.name = endpoint(bound.address, bound.port);
    return bound;
  }

  /**
   * Listen on a Unix socket at `socketPath` (absolute), created with `mode`
   * (default 0600: only the daemon's user may connect) and removed on close.
   * A socket file left by a daemon that died is replaced; a live one, or a
   * file that is not a socket, is an error.
   */
  async listenUnix(socketPath: string, mode = DEFAULT_UNIX_SOCKET_MODE): Promise<string> {
    await removeStaleSocket(socketPath);
    const server = net.createServer();
    const listener = new Listener(server, `unix:${socketPath}`, this.options, this.logAdmission, socketPath);
    server.on('connection', (s: net.Socket) => this.accept(listener, s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind(2) runs inside listen(), synchronously: the file never exists with looser bits.
      const umask = process.umask(0o177);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    fs.chmodSync(socketPath, mode);
    this.watch(listener);
    return socketPath;
  }

  /** Further options get NBD_REP_ERR_SHUTDOWN; new connections are refused. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const l of this.listeners) for (const h of l.table.entries()) h.shutdown();
  }

  /** Stop listening, drop connections still in option haggling, remove Unix socket files. */
  async close(): Promise<void> {
    this.shutdown();
    for (const l of this.listeners) {
      for (const h of [...l.table.entries()]) h.destroy();
      l.log.flush();
    }
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
    for (const l of this.listeners) if (l.unixPath) fs.rmSync(l.unixPath, { force: true });
    this.listeners.length = 0;
  }

  get handshakesInProgress(): number {
    return this.listeners.reduce((n, l) => n + l.table.size, 0);
  }

  private watch(listener: Listener): void {
    listener.server.on('error', (err) => this.options.log.error({ listen: listener.name, err: err.message }, 'nbd listener error'));
    this.listeners.push(listener);
  }

  private accept(listener: Listener, socket: net.Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    const now = Date.now();
    const address = peerKey(socket.remoteAddress);
    const decision = listener.table.admit(address, now);
    if (!decision.admit) {
      socket.destroy();
      this.turnedAway(listener, 'refused', address);
      return;
    }
    if (decision.evict) {
      decision.evict.destroy();
      this.turnedAway(listener, 'evicted', decision.evict.peerAddress);
    }
    const config: HandshakeConfig = {
      exports: this.options.directory,
      tlsMode: this.tls?.config.mode ?? 'off',
      ...this.options.limits,
    };
    const h = new HandshakeSession(socket, new HandshakeEngine(config), this, listener, address, now, this.tls);
    listener.table.add(h);
    h.start();
  }

  /** @internal A connection was evicted, refused or timed out: counted, logged at most once per interval. */
  turnedAway(listener: Listener, kind: TurnedAway, address: string | undefined): void {
    listener.log.record(kind, address);
  }

  private readonly logAdmission = (listener: Listener, counts: AdmissionCounts): void => {
    const limits = listener.table.limits;
    this.options.log.warn(
      {
        listen: listener.name,
        ...counts,
        handshakes: listener.table.size,
        maxHandshakes: limits.maxPerListener,
        maxHandshakesPerAddress: limits.maxPerAddress,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      },
      'nbd handshake slots: idle connections evicted, refused or timed out',
    );
  };

  /** @internal */
  sessionEnded(listener: Listener, h: HandshakeSession): void {
    listener.table.remove(h);
  }
}

/** A socket file left by a daemon that died is removed; a live one is not, nor any other file. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${socketPath}: another server is listening there`);
  fs.rmSync(socketPath, { force: true });
}

/** The shell of one connection during option haggling: performs the engine's actions. */
class HandshakeSession implements AdmissionEntry {
  private stream: Duplex;
  private readonly log: Logger;
  private readonly peer: string;
  private readonly local: string;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  lastActivityAt: number;
  bytesReceived = 0;
  private readonly onData = (b: Buffer): void => {
    this.listener.table.received(this, b.length, Date.now());
    this.perform(this.engine.step({ type: 'data', bytes: b }));
  };
  private readonly onClose = (): void => this.end();
  private readonly onError = (err: Error): void => this.log.debug({ err: err.message }, 'nbd handshake socket error');

  constructor(
    private readonly socket: net.Socket,
    private readonly engine: HandshakeEngine,
    private readonly server: NbdServer,
    private readonly listener: Listener,
    readonly peerAddress: string | undefined,
    readonly acceptedAt: number,
    private readonly tls: NbdTls | undefined,
  ) {
    this.stream = socket;
    this.lastActivityAt = acceptedAt;
    // A Unix-socket peer has no address: it is named by the listener's path.
    this.peer = socket.remoteAddress ? endpoint(socket.remoteAddress, socket.remotePort) : listener.name;
    this.local = socket.localAddress ? endpoint(socket.localAddress, socket.localPort) : listener.name;
    this.log = server.options.log.child({ conn: this.peer });
  }

  start(): void {
    this.timer = setTimeout(() => {
      this.log.debug('nbd option haggling timed out');
      this.server.turnedAway(this.listener, 'timedOut', this.peerAddress);
      this.destroy();
    }, this.server.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.socket.on('data', this.onData);
    this.socket.on('close', this.onClose);
    this.socket.on('error', this.onError);
    this.perform(this.engine.step({ type: 'start' }));
  }

  shutdown(): void {
    this.perform(this.engine.step({ type: 'shutdown' }));
  }

  destroy(): void {
    this.stream.destroy();
    this.socket.destroy();
    this.end();
  }

  private perform(actions: HandshakeAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.stream.write(a.bytes);
          break;
        case 'start-tls':
          this.startTls();
          break;
        case 'close':
          this.log[a.level]({ reason: a.reason }, 'nbd option haggling ended');
          this.stream.end(); // the timer destroys a peer that never closes
          break;
        case 'hand-off':
          this.handOff(a.state, a.leftover);
          break;
      }
    }
  }

  private startTls(): void {
    this.socket.off('data', this.onData);
    if (!this.tls) return this.destroy(); // the engine only ACKs STARTTLS when TLS is configured
    this.tls.upgrade(
      this.socket,
      (s) => {
        this.stream = s;
        s.on('error', this.onError);
        s.on('data', this.onData);
        this.perform(this.engine.step({ type: 'tls-established' }));
      },
      (err) => {
        const ok = this.server.tlsFailureLog.take(performance.now());
        if (ok) this.log.warn(ok.suppressed ? { err, suppressed: ok.suppressed } : { err }, 'nbd TLS handshake failed');
        this.destroy();
      },
    );
  }

  private handOff(state: NbdHandOffState, leftover: Buffer): void {
    const s = this.stream;
    s.pause();
    s.off('data', this.onData);
    this.detach();
    this.log.debug({ export: state.exportName }, 'nbd handing connection to target');
    const conn = { stream: s, leftover, state, sid: this.server.options.directory.allocateSid(), peer: this.peer, local: this.local };
    try {
      this.server.options.directory.handOff(state.tid, conn);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'nbd hand-off failed');
      s.destroy();
    }
  }

  /** Error listeners stay (they only log), so an error before adoption cannot crash the process. */
  private detach(): void {
    this.socket.off('close', this.onClose);
    this.end();
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.server.sessionEnded(this.listener, this);
  }
}
