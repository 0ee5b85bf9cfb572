/**
 * Option haggling as a pure state machine: `step(input) → actions`
 * (proto.md "Fixed newstyle negotiation"). The server shell feeds it bytes
 * and performs the actions; the engine never touches a socket or a timer.
 *
 * Phases: greeting sent → client flags → options (header, then data, or a
 * skip of an oversized option) → finished (hand-off or close). STARTTLS
 * parks the engine in 'tls-pending' until the shell reports the TLS
 * handshake done.
 */
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_OPT_EXPORT_NAME,
  NBD_REP_ERR_TOO_BIG,
} from './constants.js';
import type { NbdExportEntry } from './export.js';
import { handleOption, type HandshakeContext } from './handshake-options.js';
import type { NbdHandOffState } from './state.js';
import {
  CLIENT_FLAGS_BYTES,
  OPTION_HEADER_BYTES,
  decodeOptionHeader,
  encodeGreeting,
  encodeOptionReply,
} from './wire.js';

/** The export table as the handshake sees it (synchronous, no I/O). */
export interface NbdExportLookup {
  list(): { name: string; description?: string }[];
  lookup(name: string): NbdExportEntry | undefined;
  /** Name of the export chosen by an empty name, if one is configured. */
  defaultExport(): string | undefined;
}

/** Server TLS mode: 'off' = NOTLS, 'on' = SELECTIVETLS, 'require' = FORCEDTLS (proto.md "TLS support"). */
export type NbdServerTlsMode = 'off' | 'on' | 'require';

export interface HandshakeConfig {
  exports: NbdExportLookup;
  tlsMode: NbdServerTlsMode;
  /** Options with more data than this get NBD_REP_ERR_TOO_BIG (default 64 KiB). */
  maxOptionBytes?: number;
  /** Options with more data than this end the connection (default 1 MiB). */
  absurdOptionBytes?: number;
  /** Options per connection before the server gives up on the client (default 4096). */
  maxOptions?: number;
}

export type HandshakeInput =
  | { type: 'start' }
  | { type: 'data'; bytes: Buffer }
  | { type: 'tls-established' }
  | { type: 'shutdown' };

export type HandshakeAction =
  | { type: 'send'; bytes: Buffer }
  | { type: 'start-tls' }
  | { type: 'close'; reason: string; level: 'info' | 'warn' }
  | { type: 'hand-off'; entry: NbdExportEntry; state: NbdHandOffState; leftover: Buffer };

type Phase =
  | { kind: 'idle' }
  | { kind: 'client-flags' }
  | { kind: 'option-header' }
  | { kind: 'option-data'; option: number; length: number }
  | { kind: 'option-skip'; option: number; remaining: number }
  | { kind: 'tls-pending' }
  | { kind: 'finished' };

export class HandshakeEngine {
  private phase: Phase = { kind: 'idle' };
  private buf: Buffer = Buffer.alloc(0);
  private readonly ctx: HandshakeContext;
  private optionCount = 0;
  private readonly maxOptionBytes: number;
  private readonly absurdOptionBytes: number;
  private readonly maxOptions: number;

  constructor(config: HandshakeConfig) {
    this.ctx = {
      config,
      tls: false,
      noZeroes: false,
      structured: false,
      extended: false,
      meta: undefined,
      shuttingDown: false,
    };
    this.maxOptionBytes = config.maxOptionBytes ?? 64 * 1024;
    this.absurdOptionBytes = config.absurdOptionBytes ?? 1024 * 1024;
    this.maxOptions = config.maxOptions ?? 4096;
  }

  get finished(): boolean {
    return this.phase.kind === 'finished';
  }

  /** True after STARTTLS was acknowledged and before the shell reported TLS up. */
  get awaitingTls(): boolean {
    return this.phase.kind === 'tls-pending';
  }

  step(input: HandshakeInput): HandshakeAction[] {
    if (this.phase.kind === 'finished') return [];
    switch (input.type) {
      case 'start':
        if (this.phase.kind !== 'idle') return [];
        this.phase = { kind: 'client-flags' };
        return [{ type: 'send', bytes: encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) }];
      case 'shutdown':
        this.ctx.shuttingDown = true;
        return [];
      case 'tls-established':
        if (this.phase.kind !== 'tls-pending') return this.fail('TLS established outside STARTTLS');
        this.phase = { kind: 'option-header' };
        this.ctx.tls = true;
        return this.drain();
      case 'data':
        if (this.phase.kind === 'tls-pending' || this.phase.kind === 'idle') {
          return this.fail('client sent data while the server was not expecting any');
        }
        this.buf = this.buf.length ? Buffer.concat([this.buf, input.bytes]) : input.bytes;
        return this.drain();
    }
  }

  /** Consume as much buffered input as the current phase allows. */
  private drain(): HandshakeAction[] {
    const out: HandshakeAction[] = [];
    for (;;) {
      const acts = this.advance();
      if (acts === undefined) return out;
      out.push(...acts);
      if (this.phase.kind === 'finished' || this.phase.kind === 'tls-pending') {
        if (this.phase.kind === 'tls-pending' && this.buf.length > 0) {
          out.push(...this.fail('client sent data after NBD_OPT_STARTTLS before the TLS handshake'));
        }
        return out;
      }
    }
  }

  /** One step of the current phase; undefined when more bytes are needed. */
  private advance(): HandshakeAction[] | undefined {
    const p = this.phase;
    switch (p.kind) {
      case 'client-flags':
        return this.buf.length < CLIENT_FLAGS_BYTES ? undefined : this.clientFlags(this.take(CLIENT_FLAGS_BYTES));
      case 'option-header':
        return this.buf.length < OPTION_HEADER_BYTES ? undefined : this.optionHeader(this.take(OPTION_HEADER_BYTES));
      case 'option-data':
        if (this.buf.length < p.length) return undefined;
        return this.option(p.option, this.take(p.length));
      case 'option-skip': {
        if (this.buf.length === 0) return undefined;
        const n = Math.min(p.remaining, this.buf.length);
        this.take(n);
        if (n < p.remaining) {
          this.phase = { kind: 'option-skip', option: p.option, remaining: p.remaining - n };
          return [];
        }
        this.phase = { kind: 'option-header' };
        return [{ type: 'send', bytes: encodeOptionReply(p.option, NBD_REP_ERR_TOO_BIG, Buffer.from('option data too long')) }];
      }
      default:
        return undefined;
    }
  }

  /** proto.md "Client flags": unknown flags MUST drop the connection; we require fixed newstyle. */
  private clientFlags(b: Buffer): HandshakeAction[] {
    const flags = b.readUInt32BE(0);
    if (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) return this.fail(`unknown client flags 0x${flags.toString(16)}`);
    if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
      return this.fail('client does not support fixed newstyle negotiation (oldstyle/non-fixed newstyle clients are refused)');
    }
    this.ctx.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
    this.phase = { kind: 'option-header' };
    return [];
  }

  private optionHeader(b: Buffer): HandshakeAction[] {
    const h = decodeOptionHeader(b);
    if (!h.ok) return this.fail(h.violation);
    if (++this.optionCount > this.maxOptions) return this.fail('too many options');
    const { option, length } = h.value;
    if (length <= this.maxOptionBytes) {
      this.phase = { kind: 'option-data', option, length };
      return [];
    }
    // EXPORT_NAME cannot be answered with an error; anything absurd is a DoS.
    if (length > this.absurdOptionBytes || option === NBD_OPT_EXPORT_NAME) return this.fail(`option ${option} data of ${length} bytes`);
    this.phase = { kind: 'option-skip', option, remaining: length };
    return [];
  }

  private option(option: number, data: Buffer): HandshakeAction[] {
    this.phase = { kind: 'option-header' };
    const r = handleOption(this.ctx, option, data);
    switch (r.next) {
      case 'continue':
        return r.actions;
      case 'start-tls':
        this.phase = { kind: 'tls-pending' };
        // STARTTLS MUST NOT preserve earlier negotiation state (proto.md NBD_OPT_STARTTLS).
        Object.assign(this.ctx, { structured: false, extended: false, meta: undefined });
        return [...r.actions, { type: 'start-tls' }];
      case 'close':
        this.phase = { kind: 'finished' };
        return r.actions;
      case 'hand-off': {
        this.phase = { kind: 'finished' };
        const leftover = this.buf;
        this.buf = Buffer.alloc(0);
        return [...r.actions, { type: 'hand-off', entry: r.entry, state: r.state, leftover }];
      }
    }
  }

  private take(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }

  private fail(reason: string): HandshakeAction[] {
    this.phase = { kind: 'finished' };
    return [{ type: 'close', reason, level: 'warn' }];
  }
}
