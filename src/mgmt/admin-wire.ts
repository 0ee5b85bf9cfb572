/**
 * Admin socket framing: newline-delimited JSON over a Unix stream socket.
 *
 *   client → daemon:  {"id":1,"request":{...AdminRequest}}\n
 *   daemon → client:  {"id":1,"reply":{...AdminReply}}\n
 *
 * JSON.stringify never emits a raw newline (it escapes them inside strings),
 * so 0x0A always ends a frame. The decoder is pure and incremental: push
 * bytes, get whole messages or one typed violation; after a violation it
 * stays failed (the connection is to be closed — the stream position is
 * lost). `sendAdminRequest` is the small client bgadm uses.
 */
import { createConnection } from 'node:net';
import {
  validateAdminReply,
  validateAdminRequest,
  type AdminReply,
  type AdminRequest,
} from './admin-protocol.js';
import { mgmtError } from './errors.js';

/** Requests are tiny; 1 MiB is far above any legitimate one. */
export const MAX_REQUEST_LINE_BYTES = 1 << 20;
/** Replies may carry a whole dump or a big show; bound them anyway. */
export const MAX_REPLY_LINE_BYTES = 64 << 20;

export interface RequestEnvelope {
  id: number;
  request: AdminRequest;
}
export interface ReplyEnvelope {
  id: number;
  reply: AdminReply;
}

export type WireViolation =
  | { kind: 'oversized'; limit: number }
  | { kind: 'malformed-json'; detail: string }
  | { kind: 'bad-envelope'; detail: string };

export type DecodeEvent<T> = { type: 'message'; message: T } | { type: 'violation'; violation: WireViolation };

export function encodeRequest(env: RequestEnvelope): Buffer {
  return Buffer.from(JSON.stringify(env) + '\n', 'utf8');
}

export function encodeReply(env: ReplyEnvelope): Buffer {
  return Buffer.from(JSON.stringify(env) + '\n', 'utf8');
}

/**
 * Incremental line decoder. `push` takes ownership of nothing: it copies what
 * it keeps. Returns events in stream order; a violation is always the last
 * event and every later push returns [] (decoder failed).
 */
export class LineDecoder<T> {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  constructor(
    private readonly parse: (value: unknown) => T | WireViolation,
    private readonly maxLineBytes: number,
  ) {}

  push(chunk: Uint8Array): DecodeEvent<T>[] {
    const events: DecodeEvent<T>[] = [];
    let start = 0;
    while (!this.failed) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.pendingBytes + (end - start) > this.maxLineBytes) {
        return this.fail(events, { kind: 'oversized', limit: this.maxLineBytes });
      }
      if (nl < 0) {
        if (end > start) this.keep(chunk.subarray(start, end));
        break;
      }
      const line = this.takeLine(chunk.subarray(start, nl));
      start = nl + 1;
      const event = this.decodeLine(line);
      if (event === undefined) continue;
      if (event.type === 'violation') return this.fail(events, event.violation);
      events.push(event);
    }
    return events;
  }

  get isFailed(): boolean {
    return this.failed;
  }

  private keep(part: Uint8Array): void {
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  private takeLine(tail: Uint8Array): Buffer {
    const line = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    return line;
  }

  private decodeLine(line: Buffer): DecodeEvent<T> | undefined {
    const text = line.toString('utf8').trim();
    if (text.length === 0) return undefined; // blank lines (e.g. socat/nc users) are harmless
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { type: 'violation', violation: { kind: 'malformed-json', detail: (e as Error).message } };
    }
    const parsed = this.parse(value);
    if (isViolation(parsed)) return { type: 'violation', violation: parsed };
    return { type: 'message', message: parsed };
  }

  private fail(events: DecodeEvent<T>[], violation: WireViolation): DecodeEvent<T>[] {
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    events.push({ type: 'violation', violation });
    return events;
  }
}

function isViolation(x: unknown): x is WireViolation {
  return (
    typeof x === 'object' &&
    x !== null &&
    'kind' in x &&
    ((x as WireViolation).kind === 'oversized' ||
      (x as WireViolation).kind === 'malformed-json' ||
      (x as WireViolation).kind === 'bad-envelope')
  );
}

/**
 * Daemon side. A request that is valid JSON with an id but a bad request body
 * is NOT a violation: it decodes to a message whose `request` is replaced by
 * the validation error, so the server can answer it and keep the connection.
 */
export type ServerMessage = RequestEnvelope | { id: number; invalid: ReturnType<typeof mgmtError> };

export function createRequestDecoder(maxLineBytes = MAX_REQUEST_LINE_BYTES): LineDecoder<ServerMessage> {
  return new LineDecoder<ServerMessage>((value) => {
    const id = envelopeId(value);
    if (id === undefined) return { kind: 'bad-envelope', detail: 'missing numeric id' };
    const body = (value as Record<string, unknown>).request;
    const checked = validateAdminRequest(body);
    if ('code' in checked) return { id, invalid: checked };
    return { id, request: checked };
  }, maxLineBytes);
}

export function createReplyDecoder(maxLineBytes = MAX_REPLY_LINE_BYTES): LineDecoder<ReplyEnvelope> {
  return new LineDecoder<ReplyEnvelope>((value) => {
    const id = envelopeId(value);
    if (id === undefined) return { kind: 'bad-envelope', detail: 'missing numeric id' };
    const reply = validateAdminReply((value as Record<string, unknown>).reply);
    if (reply === undefined) return { kind: 'bad-envelope', detail: 'bad reply' };
    return { id, reply };
  }, maxLineBytes);
}

function envelopeId(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const id = (value as Record<string, unknown>).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/**
 * Send one request and wait for its reply. Never rejects: connection
 * failures, timeouts and protocol violations come back as `ok: false`
 * replies with BG_ERR_NO_DAEMON / BG_ERR_TIMEOUT / BG_ERR_PROTOCOL.
 */
export function sendAdminRequest(socketPath: string, request: AdminRequest, timeoutMs: number): Promise<AdminReply> {
  return new Promise((resolve) => {
    const id = 1;
    const decoder = createReplyDecoder();
    const socket = createConnection({ path: socketPath });
    let settled = false;
    const finish = (reply: AdminReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => finish({ ok: false, error: mgmtError('BG_ERR_TIMEOUT', socketPath) }), timeoutMs);
    socket.on('connect', () => socket.write(encodeRequest({ id, request })));
    socket.on('data', (chunk: Buffer) => {
      for (const ev of decoder.push(chunk)) {
        if (ev.type === 'violation') {
          finish({ ok: false, error: mgmtError('BG_ERR_PROTOCOL', ev.violation.kind) });
        } else if (ev.message.id === id) {
          finish(ev.message.reply);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish({ ok: false, error: mgmtError('BG_ERR_NO_DAEMON', `${socketPath}: ${err.code ?? err.message}`) });
    });
    socket.on('close', () => finish({ ok: false, error: mgmtError('BG_ERR_PROTOCOL', 'connection closed before reply') }));
  });
}
