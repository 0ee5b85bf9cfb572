/**
 * RPC server shell: accepts TCP connections, frames bytes, dispatches each
 * request to the handler registered for its type, and writes responses as
 * they complete (out of order, matched by request id). Many requests are
 * in flight per connection; reading pauses when `maxInflightPerConn` are
 * outstanding or the socket's write buffer is full (backpressure), and
 * resumes when they drain.
 *
 * Errors: a frame violation is connection-fatal (logged once at warn, the
 * socket is destroyed); a body the codec rejects gets a FLAG_ERROR INVALID
 * response; an unknown type gets UNSUPPORTED; a handler that throws gets
 * INTERNAL (and is logged: it is a bug).
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { decodeChunkRequest, decodeRaftEnvelope, encodeChunkResponse, encodeErrorBody, isChunkViolation, type ChunkOp, type ChunkRequest, type ChunkResponse, type RaftEnvelope } from './chunk.js';
import { DEFAULT_MAX_BODY_BYTES, encodeFrame, FLAG_ERROR, FLAG_ONEWAY, FLAG_RESPONSE, Framer, isFrameViolation, type Frame } from './frame.js';
import { decodeJsonBody, encodeJsonBody, isJsonViolation, MSG } from './messages.js';
import { CorkedWriter } from './socket-writer.js';
import { STATUS, type StatusCode } from './status.js';

export interface RequestContext {
  readonly type: number;
  readonly requestId: number;
  /** "host:port" of the peer, for logs. */
  readonly remote: string;
}

/** Raw handler: body parts of the response, or undefined for one-way requests. */
export type RawHandler = (body: Buffer, ctx: RequestContext) => Promise<Buffer[] | undefined> | Buffer[] | undefined;

/** Thrown by a handler to answer with a FLAG_ERROR status instead of a body. */
export class RpcStatusError extends Error {
  constructor(
    readonly status: StatusCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcStatusError';
  }
}

export interface RpcServerOptions {
  maxBodyBytes?: number;
  maxInflightPerConn?: number;
  log?: Logger;
}

const CHUNK_OPS: ReadonlyArray<[number, ChunkOp]> = [
  [MSG.WRITE_CHUNK, 'write'],
  [MSG.READ_CHUNK, 'read'],
  [MSG.DELETE_CHUNK, 'delete'],
  [MSG.GET_CHUNK_INFO, 'info'],
];

export class RpcServer {
  private readonly handlers = new Map<number, RawHandler>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private readonly maxBodyBytes: number;
  private readonly maxInflight: number;

  constructor(private readonly opts: RpcServerOptions = {}) {
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxInflight = opts.maxInflightPerConn ?? 256;
  }

  handle(type: number, h: RawHandler): this {
    this.handlers.set(type, h);
    return this;
  }

  /** JSON request → JSON response object (add `status`; defaults to OK). */
  handleJson(type: number, h: (req: Record<string, unknown>, ctx: RequestContext) => Promise<object> | object): this {
    return this.handle(type, async (body, ctx) => {
      const req = decodeJsonBody(body);
      if (isJsonViolation(req)) throw new RpcStatusError(STATUS.INVALID, req.detail);
      const res = await h(req, ctx);
      return encodeJsonBody('status' in res ? res : { status: STATUS.OK, ...res });
    });
  }

  /** A chunk I/O handler for one of WRITE/READ/DELETE_CHUNK, GET_CHUNK_INFO. */
  handleChunk(type: number, h: (req: ChunkRequest, ctx: RequestContext) => Promise<ChunkResponse> | ChunkResponse): this {
    const op = CHUNK_OPS.find(([t]) => t === type)?.[1];
    if (!op) throw new Error(`type ${type} is not a chunk op`);
    return this.handle(type, async (body, ctx) => {
      const req = decodeChunkRequest(op, body);
      if (isChunkViolation(req)) throw new RpcStatusError(STATUS.INVALID, `${req.violation}: ${req.detail}`);
      return encodeChunkResponse(await h(req, ctx));
    });
  }

  /** One-way Raft envelopes (MSG.RAFT_MESSAGE). */
  handleRaft(h: (env: RaftEnvelope, ctx: RequestContext) => void): this {
    return this.handle(MSG.RAFT_MESSAGE, (body, ctx) => {
      const env = decodeRaftEnvelope(body);
      if (!isChunkViolation(env)) h(env, ctx);
      return undefined;
    });
  }

  listen(host: string, port: number): Promise<number> {
    const server = net.createServer((s) => this.adopt(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** Stop listening and destroy every connection (in-flight responses are dropped). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Serve an already-connected socket. */
  adopt(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const conn = new ServerConn(socket, this.handlers, this.maxBodyBytes, this.maxInflight, this.opts.log);
    socket.on('close', () => {
      this.sockets.delete(socket);
      conn.closed = true;
    });
  }
}

class ServerConn {
  closed = false;
  private inflight = 0;
  private blocked = false;
  private readonly framer: Framer;
  private readonly writer: CorkedWriter;
  private readonly remote: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: Map<number, RawHandler>,
    maxBodyBytes: number,
    private readonly maxInflight: number,
    private readonly log: Logger | undefined,
  ) {
    this.framer = new Framer(maxBodyBytes);
    this.writer = new CorkedWriter(socket);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('drain', () => this.updateFlow());
    socket.on('error', () => undefined);
  }

  private onData(d: Buffer): void {
    for (const f of this.framer.push(d)) {
      if (isFrameViolation(f)) {
        this.log?.warn({ conn: this.remote, err: f.violation, detail: f.detail }, 'rpc connection closed: bad frame');
        this.socket.destroy();
        return;
      }
      if ((f.flags & FLAG_RESPONSE) === 0) this.dispatch(f);
    }
  }

  private dispatch(f: Frame): void {
    const oneway = (f.flags & FLAG_ONEWAY) !== 0;
    const ctx: RequestContext = { type: f.type, requestId: f.requestId, remote: this.remote };
    const h = this.handlers.get(f.type);
    if (!h) {
      if (!oneway) this.reply(f, FLAG_ERROR, encodeErrorBody(STATUS.UNSUPPORTED, `no handler for type ${f.type}`));
      return;
    }
    this.inflight++;
    this.updateFlow();
    let p: Promise<Buffer[] | undefined>;
    try {
      p = Promise.resolve(h(f.body, ctx));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (body) => !oneway && this.reply(f, 0, body ?? []),
      (e: unknown) => !oneway && this.reply(f, FLAG_ERROR, this.errorBody(e, ctx)),
    ).finally(() => {
      this.inflight--;
      this.updateFlow();
    });
  }

  private errorBody(e: unknown, ctx: RequestContext): Buffer[] {
    if (e instanceof RpcStatusError) return encodeErrorBody(e.status, e.message);
    this.log?.error({ conn: ctx.remote, op: ctx.type, err: (e as Error)?.message }, 'rpc handler failed');
    return encodeErrorBody(STATUS.INTERNAL, (e as Error)?.message ?? String(e));
  }

  private reply(f: Frame, flags: number, body: Buffer[]): void {
    if (this.closed) return;
    this.writer.write(encodeFrame({ flags: FLAG_RESPONSE | flags, type: f.type, requestId: f.requestId }, body));
  }

  /** Pause reading while too many requests are outstanding or writes are backed up. */
  private updateFlow(): void {
    const block = this.inflight >= this.maxInflight || this.socket.writableNeedDrain;
    if (block && !this.blocked) this.socket.pause();
    if (!block && this.blocked) this.socket.resume();
    this.blocked = block;
  }
}
