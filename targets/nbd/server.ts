/**
 * The NBD portal on the main thread (management plane): accepts TCP
 * connections, runs option haggling (handshake.ts) and hands each
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
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { HandshakeEngine, type HandshakeAction, type HandshakeConfig, type NbdExportLookup } from './handshake.js';
import type { NbdHandOffState } from './state.js';
import { NbdTls, type NbdTlsConfig } from './tls.js';

export interface NbdHandOffConnection {
  /** A net.Socket (plain TCP) or a tls.TLSSocket (after STARTTLS); paused. */
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
  /** Option haggling must finish within this time (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Connections in option haggling at once; more are refused (default 1024). */
  maxHandshakes?: number;
  limits?: Pick<HandshakeConfig, 'maxOptionBytes' | 'absurdOptionBytes' | 'maxOptions'>;
}

function endpoint(address: string | undefined, port: number | undefined): string {
  return address?.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class NbdServer {
  private readonly servers: net.Server[] = [];
  private readonly handshakes = new Set<HandshakeSession>();
  private readonly tls: NbdTls | undefined;
  private shuttingDown = false;

  constructor(readonly options: NbdServerOptions) {
    this.tls = options.tls ? new NbdTls(options.tls) : undefined;
  }

  /** Listen on one address (IPv4 or IPv6); may be called several times. Port 0 = ephemeral. */
  async listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.log.error({ err: err.message }, 'nbd listener error'));
    this.servers.push(server);
    return server.address() as AddressInfo;
  }

  /** Further options get NBD_REP_ERR_SHUTDOWN; new connections are refused. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const h of this.handshakes) h.shutdown();
  }

  /** Stop listening and drop connections still in option haggling. */
  async close(): Promise<void> {
    this.shutdown();
    for (const h of this.handshakes) h.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  get handshakesInProgress(): number {
    return this.handshakes.size;
  }

  private accept(socket: net.Socket): void {
    const max = this.options.maxHandshakes ?? 1024;
    if (this.shuttingDown || this.handshakes.size >= max) {
      socket.destroy();
      return;
    }
    const config: HandshakeConfig = {
      exports: this.options.directory,
      tlsMode: this.tls?.config.mode ?? 'off',
      ...this.options.limits,
    };
    const h = new HandshakeSession(socket, new HandshakeEngine(config), this, this.tls);
    this.handshakes.add(h);
    h.start();
  }

  /** @internal */
  sessionEnded(h: HandshakeSession): void {
    this.handshakes.delete(h);
  }
}

/** The shell of one connection during option haggling: performs the engine's actions. */
class HandshakeSession {
  private stream: Duplex;
  private readonly log: Logger;
  private readonly peer: string;
  private readonly local: string;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly onData = (b: Buffer): void => this.perform(this.engine.step({ type: 'data', bytes: b }));
  private readonly onClose = (): void => this.end();
  private readonly onError = (err: Error): void => this.log.debug({ err: err.message }, 'nbd handshake socket error');

  constructor(
    private readonly socket: net.Socket,
    private readonly engine: HandshakeEngine,
    private readonly server: NbdServer,
    private readonly tls: NbdTls | undefined,
  ) {
    this.stream = socket;
    this.peer = endpoint(socket.remoteAddress, socket.remotePort);
    this.local = endpoint(socket.localAddress, socket.localPort);
    this.log = server.options.log.child({ conn: this.peer });
  }

  start(): void {
    this.timer = setTimeout(() => {
      this.log.warn('nbd option haggling timed out');
      this.destroy();
    }, this.server.options.handshakeTimeoutMs ?? 30_000);
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
        this.log.warn({ err }, 'nbd TLS handshake failed');
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
    this.server.sessionEnded(this);
  }
}
