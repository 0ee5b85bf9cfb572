/**
 * The management plane's handle on one target's event loop: starts it,
 * sends it control requests (under the per-target lock), and hands it
 * connections after login.
 *
 * Connection migration: Node cannot move a net.Socket between threads, but
 * the kernel socket can move. We stop reading, take the bytes Node already
 * buffered, dup(2) the descriptor, destroy our handle (closing our fd does
 * not close the connection while the dup lives) and send the dup to the
 * loop, which re-opens it with `new net.Socket({ fd })`. A TLS socket's
 * session state cannot move, so its plaintext is bridged over a
 * MessageChannel instead (see src/worker/port-stream.ts).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { dupFd } from '../util/libc.js';
import type { ProtocolName, SessionEvent } from '../worker/contract.js';
import type { ControlError, ControlRequest, LoopMessage } from '../worker/messages.js';
import { PortStream } from '../worker/port-stream.js';
import { createTargetStatsBuffer } from '../worker/shared-stats.js';
import { TargetLock } from '../worker/target-lock.js';

export interface LoopHandle {
  port: MessagePort;
  terminate(): Promise<void>;
}

export interface LoopSpawnOptions {
  tid: number;
  name: string;
  lock: TargetLock;
  targetStats: SharedArrayBuffer;
}

/** Starts a target loop: in a Worker, or in-process for --single-loop. */
export type LoopSpawner = (opts: LoopSpawnOptions) => LoopHandle;

export class ControlRequestError extends Error {
  constructor(readonly error: ControlError) {
    super(error.message);
  }
}

export interface HandOffConnection {
  protocol: ProtocolName;
  stream: Duplex;
  leftover: Buffer;
  state: unknown;
  sid: number;
  cid: number;
}

export class TargetRuntime {
  readonly lock = TargetLock.create();
  readonly targetStats = createTargetStatsBuffer();
  private readonly loop: LoopHandle;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;
  private exited = false;

  constructor(
    readonly tid: number,
    readonly name: string,
    spawn: LoopSpawner,
    private readonly log: Logger,
    private readonly onEvent: (tid: number, event: SessionEvent) => void,
  ) {
    this.loop = spawn({ tid, name, lock: this.lock, targetStats: this.targetStats });
    let markReady!: () => void;
    this.ready = new Promise((r) => (markReady = r));
    this.loop.port.on('message', (m: LoopMessage) => {
      if (m.type === 'ready') markReady();
      else if (m.type === 'event') this.onEvent(this.tid, m.event);
      else this.settle(m);
    });
    this.loop.port.on('close', () => this.failAll('target loop exited'));
  }

  /** Send a control request; resolves with the loop's reply data. */
  async request<T = unknown>(req: ControlRequest, transfer: readonly MessagePort[] = []): Promise<T> {
    if (this.exited) throw new ControlRequestError({ code: 'ESHUTDOWN', message: 'target loop has stopped' });
    await this.ready;
    const id = this.nextId++;
    const reply = new Promise<T>((resolve, reject) =>
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject }),
    );
    // Under the lock: the loop sees the generation move at its next entry
    // and applies this request before it touches more I/O.
    await this.lock.withMgmt(() => {
      this.lock.bumpGeneration();
      this.loop.port.postMessage({ ...req, id }, transfer as MessagePort[]);
    });
    return reply;
  }

  /** Move a logged-in connection to the loop. The caller must not touch `conn.stream` afterwards. */
  async handOff(conn: HandOffConnection): Promise<void> {
    const peer = describe(conn.stream, 'remote');
    const local = describe(conn.stream, 'local');
    const base = { type: 'adopt' as const, protocol: conn.protocol, state: conn.state, sid: conn.sid, cid: conn.cid, peer, local };
    if (isPlainSocket(conn.stream)) {
      const sock = conn.stream;
      const leftover = await detach(sock, conn.leftover);
      const fd = dupFd((sock as unknown as { _handle: { fd: number } })._handle.fd);
      sock.destroy();
      await this.request({ ...base, fd, leftover });
      return;
    }
    const { port1, port2 } = new MessageChannel();
    const bridge = new PortStream(port1);
    conn.stream.pipe(bridge).pipe(conn.stream);
    conn.stream.on('error', () => bridge.destroy());
    bridge.on('error', () => conn.stream.destroy());
    await this.request({ ...base, port: port2, leftover: new Uint8Array(conn.leftover) }, [port2]);
  }

  async stop(reason: string): Promise<void> {
    try {
      await this.request({ type: 'shutdown', reason });
    } catch (err) {
      this.log.warn({ target: this.name, err: (err as Error).message }, 'target shutdown request failed');
    }
    this.exited = true;
    this.loop.port.close();
    await this.loop.terminate();
  }

  private settle(m: Extract<LoopMessage, { type: 'reply' }>): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.ok) w.resolve(m.data);
    else w.reject(new ControlRequestError(m.error));
  }

  private failAll(message: string): void {
    this.exited = true;
    for (const w of this.waiting.values()) w.reject(new ControlRequestError({ code: 'ESHUTDOWN', message }));
    this.waiting.clear();
  }
}

function isPlainSocket(s: Duplex): s is net.Socket {
  // A TLSSocket is a net.Socket too, but its handle is not a TCP handle.
  return s instanceof net.Socket && !('encrypted' in s) && typeof (s as unknown as { _handle?: { fd?: number } })._handle?.fd === 'number';
}

/** Stop reading, wait for our writes to reach the kernel, and collect buffered bytes. */
async function detach(sock: net.Socket, leftover: Buffer): Promise<Uint8Array> {
  sock.pause();
  if (sock.writableLength > 0) {
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new Error('connection closed during hand-off'));
      sock.once('close', onClose);
      sock.once('drain', () => {
        sock.off('close', onClose);
        resolve();
      });
    });
  }
  const chunks: Buffer[] = [leftover];
  for (let c = sock.read() as Buffer | null; c; c = sock.read() as Buffer | null) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

function describe(s: Duplex, side: 'remote' | 'local'): string {
  const sock = s as Partial<net.Socket>;
  const addr = side === 'remote' ? sock.remoteAddress : sock.localAddress;
  const port = side === 'remote' ? sock.remotePort : sock.localPort;
  if (!addr) return 'unknown';
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
