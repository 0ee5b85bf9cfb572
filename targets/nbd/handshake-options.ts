/**
 * One handler per NBD option (proto.md "Option types"), dispatched from a
 * table. Handlers are pure: they read and update the negotiation context
 * and return the replies to send plus what the engine does next.
 */
import {
  BASE_ALLOCATION,
  BASE_ALLOCATION_ID,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_EXTENDED_HEADERS,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_BLOCK_SIZE_REQD,
  NBD_REP_ERR_EXT_HEADER_REQD,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
} from './constants.js';
import { blockSizes, transmissionFlags, type NbdExportEntry } from './export.js';
import type { HandshakeAction, HandshakeConfig } from './handshake.js';
import type { NbdHandOffState } from './state.js';
import {
  decodeInfoRequest,
  decodeMetaContextRequest,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeOptionReply,
  encodeRepMetaContext,
  encodeRepServer,
} from './wire.js';

export interface HandshakeContext {
  readonly config: HandshakeConfig;
  tls: boolean;
  noZeroes: boolean;
  structured: boolean;
  extended: boolean;
  /** Result of the last NBD_OPT_SET_META_CONTEXT (replaced even when it fails). */
  meta: { exportName: string; ids: number[] } | undefined;
  shuttingDown: boolean;
}

export type OptionResult =
  | { next: 'continue' | 'start-tls' | 'close'; actions: HandshakeAction[] }
  | { next: 'hand-off'; actions: HandshakeAction[]; entry: NbdExportEntry; state: NbdHandOffState };

/** Queries per META_CONTEXT option before NBD_REP_ERR_TOO_BIG. */
const MAX_META_QUERIES = 128;

const send = (bytes: Buffer): HandshakeAction => ({ type: 'send', bytes });
const reply = (option: number, type: number, data?: Buffer): HandshakeAction => send(encodeOptionReply(option, type, data));
const cont = (...actions: HandshakeAction[]): OptionResult => ({ next: 'continue', actions });
const errorReply = (option: number, type: number, message: string): OptionResult =>
  cont(reply(option, type, Buffer.from(message, 'utf8')));
const close = (reason: string, level: 'info' | 'warn' = 'warn', ...actions: HandshakeAction[]): OptionResult => ({
  next: 'close',
  actions: [...actions, { type: 'close', reason, level }],
});

type Handler = (ctx: HandshakeContext, option: number, data: Buffer) => OptionResult;

const handlers: Record<number, Handler> = {
  [NBD_OPT_EXPORT_NAME]: optExportName,
  [NBD_OPT_ABORT]: (_ctx, option) => close('client sent NBD_OPT_ABORT', 'info', reply(option, NBD_REP_ACK)),
  [NBD_OPT_LIST]: optList,
  [NBD_OPT_STARTTLS]: optStartTls,
  [NBD_OPT_INFO]: optInfoGo,
  [NBD_OPT_GO]: optInfoGo,
  [NBD_OPT_STRUCTURED_REPLY]: optStructuredReply,
  [NBD_OPT_LIST_META_CONTEXT]: optMetaContext,
  [NBD_OPT_SET_META_CONTEXT]: optMetaContext,
  [NBD_OPT_EXTENDED_HEADERS]: optExtendedHeaders,
};

export function handleOption(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  const handler = handlers[option];
  if (ctx.shuttingDown && option !== NBD_OPT_ABORT) {
    if (option === NBD_OPT_EXPORT_NAME) return close('server shutting down', 'info');
    return errorReply(option, NBD_REP_ERR_SHUTDOWN, 'server is shutting down');
  }
  // FORCEDTLS: everything but STARTTLS and ABORT needs TLS first.
  if (ctx.config.tlsMode === 'require' && !ctx.tls && option !== NBD_OPT_STARTTLS && option !== NBD_OPT_ABORT) {
    if (option === NBD_OPT_EXPORT_NAME) return close('NBD_OPT_EXPORT_NAME before TLS on a TLS-only server');
    return errorReply(option, NBD_REP_ERR_TLS_REQD, 'TLS is required');
  }
  if (!handler) return errorReply(option, NBD_REP_ERR_UNSUP, `option ${option} is not supported`);
  return handler(ctx, option, data);
}

function optList(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  if (data.length !== 0) return errorReply(option, NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
  const exports = ctx.config.exports;
  const actions: HandshakeAction[] = [];
  for (const e of exports.list()) {
    // SELECTIVETLS MAY omit TLS-only exports before TLS.
    if (!ctx.tls && exports.lookup(e.name)?.tls === 'require') continue;
    actions.push(reply(option, NBD_REP_SERVER, encodeRepServer(e.name, e.description ?? '')));
  }
  actions.push(reply(option, NBD_REP_ACK));
  return cont(...actions);
}

function optStartTls(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  if (data.length !== 0) return errorReply(option, NBD_REP_ERR_INVALID, 'NBD_OPT_STARTTLS takes no data');
  if (ctx.tls) return errorReply(option, NBD_REP_ERR_INVALID, 'TLS is already active');
  if (ctx.config.tlsMode === 'off') return errorReply(option, NBD_REP_ERR_POLICY, 'TLS is not configured on this server');
  return { next: 'start-tls', actions: [reply(option, NBD_REP_ACK)] };
}

function optStructuredReply(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  if (data.length !== 0) return errorReply(option, NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
  if (ctx.extended) return errorReply(option, NBD_REP_ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
  if (ctx.structured) return errorReply(option, NBD_REP_ERR_INVALID, 'structured replies already negotiated');
  ctx.structured = true;
  return cont(reply(option, NBD_REP_ACK));
}

function optExtendedHeaders(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  if (data.length !== 0) return errorReply(option, NBD_REP_ERR_INVALID, 'NBD_OPT_EXTENDED_HEADERS takes no data');
  if (ctx.extended) return errorReply(option, NBD_REP_ERR_INVALID, 'extended headers already negotiated');
  ctx.extended = true;
  return cont(reply(option, NBD_REP_ACK));
}

type Resolved = { ok: true; entry: NbdExportEntry } | { ok: false; rep: number; message: string };

/** Empty name = default export; TLS-only exports need TLS (SELECTIVETLS). */
function resolveExport(ctx: HandshakeContext, name: string): Resolved {
  const exports = ctx.config.exports;
  const canonical = name === '' ? exports.defaultExport() : name;
  if (canonical === undefined) return { ok: false, rep: NBD_REP_ERR_UNKNOWN, message: 'no default export is configured' };
  const entry = exports.lookup(canonical);
  if (!entry) return { ok: false, rep: NBD_REP_ERR_UNKNOWN, message: `export '${canonical}' does not exist` };
  if (entry.tls === 'require' && !ctx.tls) {
    // A NOTLS server MUST NOT send NBD_REP_ERR_TLS_REQD.
    if (ctx.config.tlsMode === 'off') return { ok: false, rep: NBD_REP_ERR_POLICY, message: 'export requires TLS, which is not configured' };
    return { ok: false, rep: NBD_REP_ERR_TLS_REQD, message: 'export requires TLS' };
  }
  return { ok: true, entry };
}

function handOffState(ctx: HandshakeContext, entry: NbdExportEntry, requestedName: string, finalReply: Buffer | undefined): NbdHandOffState {
  const ids = ctx.meta && ctx.meta.exportName === requestedName ? ctx.meta.ids : [];
  const replyMode = ctx.extended ? 'extended' : ctx.structured ? 'structured' : 'simple';
  return {
    protocol: 'nbd',
    exportName: entry.name,
    tid: entry.tid,
    lun: entry.lun,
    replyMode,
    metaContextIds: replyMode === 'simple' ? [] : [...ids],
    noZeroes: ctx.noZeroes,
    tls: ctx.tls,
    transmissionFlags: transmissionFlags(entry, {
      replyChunks: replyMode !== 'simple',
      extendedHeaders: ctx.extended,
    }),
    sizeBytes: entry.info.sizeBytes,
    blockSizes: blockSizes(entry.info),
    finalReply: finalReply ?? new Uint8Array(0),
  };
}

/** A plain Uint8Array, so the state is identical before and after structured cloning. */
const plain = (b: Buffer): Uint8Array => new Uint8Array(b);

/** NBD_OPT_INFO and NBD_OPT_GO share format and replies; GO then enters transmission. */
function optInfoGo(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  const req = decodeInfoRequest(data);
  if (!req.ok) return errorReply(option, NBD_REP_ERR_INVALID, req.violation);
  const r = resolveExport(ctx, req.value.name);
  if (!r.ok) return errorReply(option, r.rep, r.message);
  const entry = r.entry;
  const sizes = blockSizes(entry.info);
  const infos = new Set(req.value.infos);
  if (option === NBD_OPT_GO && entry.blockSizeRequired && !infos.has(NBD_INFO_BLOCK_SIZE)) {
    return cont(
      reply(option, NBD_REP_INFO, encodeInfoBlockSize(sizes)),
      reply(option, NBD_REP_ERR_BLOCK_SIZE_REQD, Buffer.from('client must request NBD_INFO_BLOCK_SIZE')),
    );
  }
  const state = handOffState(ctx, entry, req.value.name, undefined);
  const actions = [reply(option, NBD_REP_INFO, encodeInfoExport(state.sizeBytes, state.transmissionFlags))];
  if (infos.has(NBD_INFO_NAME)) actions.push(reply(option, NBD_REP_INFO, encodeInfoString(NBD_INFO_NAME, entry.name)));
  if (infos.has(NBD_INFO_DESCRIPTION) && entry.description) {
    actions.push(reply(option, NBD_REP_INFO, encodeInfoString(NBD_INFO_DESCRIPTION, entry.description)));
  }
  // Sent even when not requested: we enforce these constraints (proto.md NBD_INFO_BLOCK_SIZE).
  actions.push(reply(option, NBD_REP_INFO, encodeInfoBlockSize(sizes)));
  if (option === NBD_OPT_INFO) return cont(...actions, reply(option, NBD_REP_ACK));
  state.finalReply = plain(encodeOptionReply(option, NBD_REP_ACK));
  return { next: 'hand-off', actions, entry, state };
}

/** NBD_OPT_EXPORT_NAME cannot fail politely: any problem is a hard disconnect. */
function optExportName(ctx: HandshakeContext, _option: number, data: Buffer): OptionResult {
  if (ctx.extended) return close('NBD_OPT_EXPORT_NAME after NBD_OPT_EXTENDED_HEADERS');
  const name = data.toString('utf8');
  if (data.includes(0)) return close('export name contains NUL');
  const r = resolveExport(ctx, name);
  if (!r.ok) return close(`NBD_OPT_EXPORT_NAME refused: ${r.message}`);
  const state = handOffState(ctx, r.entry, name, undefined);
  state.finalReply = plain(encodeExportNameReply(state.sizeBytes, state.transmissionFlags, ctx.noZeroes));
  return { next: 'hand-off', actions: [], entry: r.entry, state };
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT for the `base:` namespace. */
function optMetaContext(ctx: HandshakeContext, option: number, data: Buffer): OptionResult {
  const setting = option === NBD_OPT_SET_META_CONTEXT;
  if (setting) ctx.meta = undefined; // replaced even when this option fails
  if (!ctx.structured && !ctx.extended) {
    return errorReply(option, NBD_REP_ERR_INVALID, 'negotiate structured replies or extended headers first');
  }
  const count = data.length >= 4 ? peekQueryCount(data) : 0;
  if (count > MAX_META_QUERIES) return errorReply(option, NBD_REP_ERR_TOO_BIG, 'too many queries');
  const req = decodeMetaContextRequest(data, MAX_META_QUERIES);
  if (!req.ok) return errorReply(option, NBD_REP_ERR_INVALID, req.violation);
  const r = resolveExport(ctx, req.value.name);
  if (!r.ok) return errorReply(option, r.rep === NBD_REP_ERR_TLS_REQD ? NBD_REP_ERR_UNKNOWN : r.rep, r.message);
  const matched = matchQueries(req.value.queries, setting);
  if (matched === 'invalid') return errorReply(option, NBD_REP_ERR_INVALID, 'query lacks a namespace');
  const actions = matched.map((name) => reply(option, NBD_REP_META_CONTEXT, encodeRepMetaContext(setting ? BASE_ALLOCATION_ID : 0, name)));
  if (setting) ctx.meta = { exportName: req.value.name, ids: matched.length ? [BASE_ALLOCATION_ID] : [] };
  return cont(...actions, reply(option, NBD_REP_ACK));
}

function peekQueryCount(data: Buffer): number {
  const nameLen = data.readUInt32BE(0);
  return nameLen <= data.length - 8 ? data.readUInt32BE(4 + nameLen) : 0;
}

/**
 * proto.md "The base: metadata namespace": LIST with no query or `base:`
 * lists base:allocation; SET selects only the exact name. Unknown
 * namespaces and leaves are ignored; a query without a colon is invalid.
 */
export function matchQueries(queries: string[], setting: boolean): string[] | 'invalid' {
  if (queries.length === 0) return setting ? [] : [BASE_ALLOCATION];
  let found = false;
  for (const q of queries) {
    const colon = q.indexOf(':');
    if (colon <= 0) return 'invalid';
    if (q.slice(0, colon) !== 'base') continue;
    const leaf = q.slice(colon + 1);
    if (leaf === 'allocation' || (leaf === '' && !setting)) found = true;
  }
  return found ? [BASE_ALLOCATION] : [];
}
