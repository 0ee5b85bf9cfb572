/**
 * RPC client shell: one persistent TCP connection to one peer, requests
 * pipelined and matched to responses by request id (responses may arrive
 * in any order). Connects lazily on the first call.
 *
 * Failure contract (every rejection is an RpcError, never anything else):
 *  - TIMEOUT: no response within the call's timeout (the request may still
 *    be executed by the peer);
 *  - DISCONNECTED: the connection dropped while the call was pending (same
 *    caveat); every pending call fails at once;
 *  - UNREACHABLE: connecting failed, or a call was made during the backoff
 *    after a failed connect (fast failure so callers can try another peer);
 *  - CLOSED: the client was closed;
 *  - PROTOCOL: the peer sent a bad frame or a body the codec rejects;
 *  - REMOTE: the peer answered FLAG_ERROR; `status` says why.
 * Reconnects after a failure wait an exponential backoff (min..max ms).
 */
import net from 'node:net';
import { decodeChunkResponse, decodeErrorBody, encodeChunkRequest, encodeRaftEnvelope, isChunkViolation, type ChunkRequest, type ChunkResponse, type RaftEnvelope } from './chunk.js';
import { DEFAULT_MAX_BODY_BYTES, encodeFrame, FLAG_ERROR, FLAG_ONEWAY, FLAG_RESPONSE, Framer, isFrameViolation, type Frame } from './frame.js';
import { decodeJsonBody, encodeJsonBody, isJsonViolation, MSG } from './messages.js';
import { CorkedWriter } from './socket-writer.js';
import { STATUS, type StatusCode } from './status.js';

export type RpcErrorKind = 'TIMEOUT' | 'DISCONNECTED' | 'UNREACHABLE' | 'CLOSED' | 'PROTOCOL' | 'REMOTE';

export class RpcError extends Error {
  constructor(
    readonly kind: RpcErrorKind,
    message: string,
    /** REMOTE only. */
    readonly status: StatusCode = STATUS.INTERNAL,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface RpcClientOptions {
  /** Default per-call timeout (ms). */
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  maxBodyBytes?: number;
}

interface Pending {
  resolve(f: Frame): void;
  reject(e: RpcError): void;
  timer: NodeJS.Timeout;
}

/** "host:port" (IPv6 in brackets); port 0 is allowed for listen addresses. */
export function parseAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad address "${addr}"`);
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

export class RpcClient {
  private socket: net.Socket | undefined;
  private writer: CorkedWriter | undefined;
  private connecting: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  private readonly o: Required<RpcClientOptions>;

  constructor(
    readonly address: string,
    opts: RpcClientOptions = {},
  ) {
    this.o = {
      callTimeoutMs: opts.callTimeoutMs ?? 5000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      backoffMinMs: opts.backoffMinMs ?? 50,
      backoffMaxMs: opts.backoffMaxMs ?? 2000,
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    };
  }

  get inflight(): number {
    return this.pending.size;
  }

  /** Send a request; resolves with the response body (FLAG_ERROR → RpcError REMOTE). */
  async call(type: number, body: readonly Buffer[], timeoutMs = this.o.callTimeoutMs): Promise<Buffer> {
    await this.ensureConnected();
    const id = this.nextId++;
    const frame = await new Promise<Frame>((resolve, reject) => {
      const writer = this.writer;
      if (!writer) return reject(new RpcError('DISCONNECTED', `${this.address}: connection lost`));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError('TIMEOUT', `${this.address}: type ${type} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      writer.write(encodeFrame({ flags: 0, type, requestId: id }, body));
    });
    if (frame.flags & FLAG_ERROR) {
      const e = decodeErrorBody(frame.body);
      throw new RpcError('REMOTE', `${this.address}: ${e.message}`, e.status);
    }
    return frame.body;
  }

  /** JSON request/response; the response's `status` is left to the caller. */
  async callJson<T = Record<string, unknown>>(type: number, req: object, timeoutMs?: number): Promise<T> {
    const body = await this.call(type, encodeJsonBody(req), timeoutMs);
    const res = decodeJsonBody(body);
    if (isJsonViolation(res)) throw new RpcError('PROTOCOL', `${this.address}: ${res.detail}`);
    return res as T;
  }

  /** WRITE/READ/DELETE_CHUNK or GET_CHUNK_INFO. `req.data` is borrowed until this settles. */
  async callChunk(type: number, req: ChunkRequest, timeoutMs?: number): Promise<ChunkResponse> {
    const res = decodeChunkResponse(await this.call(type, encodeChunkRequest(req), timeoutMs));
    if (isChunkViolation(res)) throw new RpcError('PROTOCOL', `${this.address}: ${res.violation} ${res.detail}`);
    return res;
  }

  /** One-way Raft message: best effort, dropped (returns false) when not connected. */
  sendRaft(env: RaftEnvelope): boolean {
    if (!this.writer || this.socket?.destroyed) {
      this.ensureConnected().catch(() => undefined);
      return false;
    }
    this.writer.write(encodeFrame({ flags: FLAG_ONEWAY, type: MSG.RAFT_MESSAGE, requestId: 0 }, encodeRaftEnvelope(env)));
    return true;
  }

  /** Fail pending calls with CLOSED and drop the connection. */
  close(): void {
    this.closed = true;
    this.drop(new RpcError('CLOSED', `${this.address}: client closed`));
  }

  private ensureConnected(): Promise<void> {
    if (this.closed) return Promise.reject(new RpcError('CLOSED', `${this.address}: client closed`));
    if (this.socket && !this.socket.destroyed && !this.connecting) return Promise.resolve();
    if (this.connecting) return this.connecting;
    if (Date.now() < this.retryAt) return Promise.reject(new RpcError('UNREACHABLE', `${this.address}: in reconnect backoff`));
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private connect(): Promise<void> {
    const { host, port } = parseAddress(this.address);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error('connect timeout')), this.o.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        this.failures = 0;
        this.adopt(s);
        resolve();
      });
      const onError = (e: Error): void => {
        clearTimeout(timer);
        this.noteFailure();
        reject(new RpcError('UNREACHABLE', `${this.address}: ${e.message}`));
      };
      s.once('error', onError);
    });
  }

  private noteFailure(): void {
    this.failures++;
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffMinMs * 2 ** Math.min(this.failures - 1, 16));
    this.retryAt = Date.now() + delay;
  }

  private adopt(s: net.Socket): void {
    s.setNoDelay(true);
    const framer = new Framer(this.o.maxBodyBytes);
    this.socket = s;
    this.writer = new CorkedWriter(s);
    s.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) {
        if (isFrameViolation(f)) {
          this.drop(new RpcError('PROTOCOL', `${this.address}: ${f.violation} ${f.detail}`));
          return;
        }
        this.complete(f);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket !== s) return;
      this.noteFailure();
      this.drop(new RpcError('DISCONNECTED', `${this.address}: connection lost`));
    });
  }

  private complete(f: Frame): void {
    if ((f.flags & FLAG_RESPONSE) === 0) return;
    const p = this.pending.get(f.requestId);
    if (!p) return; // timed out earlier
    this.pending.delete(f.requestId);
    clearTimeout(p.timer);
    p.resolve(f);
  }

  private drop(err: RpcError): void {
    const s = this.socket;
    this.socket = undefined;
    this.writer = undefined;
    s?.destroy();
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
