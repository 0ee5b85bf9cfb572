/**
 * Executes admin requests (bgadm and config files) against the registry:
 * mode × op → one handler, tgtadm's semantics and errors. Every request that
 * changes state calls `onChange` once it succeeded, so the daemon can
 * persist its config.
 */
import { parseLunParams } from '../config/lun-params.js';
import { parseSize } from '../config/size.js';
import { ISCSI_DEFAULT_PORT } from '../config/schema.js';
import { isOwnEndpoint } from '../util/self-endpoint.js';
import type { LunConfig, TargetConfig } from '../config/schema.js';
import { newIdentityId } from '../util/identity-id.js';
import type { LunParams } from '../worker/contract.js';
import type { BackgroundPool } from './background.js';
import type { AdminReply, AdminRequest, LunShow, ShowData, TargetShow, TgtadmRequest } from './admin-protocol.js';
import { mgmtError, type MgmtError, type MgmtErrorCode } from './errors.js';
import { tgtSerial, type Registry, type TargetRecord } from './registry.js';
import { ControlRequestError } from './target-runtime.js';

export class AdminFailure extends Error {
  constructor(readonly error: MgmtError) {
    super(error.details ?? error.message);
  }
}

/** Shortest CHAP secret `account new` accepts: tgt and Windows use 12–16; RFC 7143 §12.1.3 recommends >= 96 bits. */
export const MIN_CHAP_SECRET_LENGTH = 12;

function fail(code: MgmtErrorCode, details?: string): never {
  throw new AdminFailure(mgmtError(code, details));
}

export interface AdminContext {
  registry: Registry;
  /** Called after every successful change (persist the config). */
  onChange(): Promise<void>;
  /** The running config for `--dump`. */
  dump(): ShowData;
  portals(): ShowData;
  /** The protocol's default target parameters, in display order (tgtadm show --tid). */
  targetParamDefaults?(lld: 'iscsi' | 'nbd'): [string, string][];
  /** CPU-heavy background work (LUN checksums). */
  background?: BackgroundPool;
  /** Extra hooks the daemon provides for modes the registry does not own. */
  portalOp?(req: TgtadmRequest): Promise<void>;
}

const MUTATING = new Set(['new', 'delete', 'bind', 'unbind', 'update', 'start', 'stop']);

export async function executeAdmin(ctx: AdminContext, req: AdminRequest): Promise<AdminReply> {
  try {
    if (req.kind === 'dump') return { ok: true, show: ctx.dump() };
    const show = await dispatch(ctx, req);
    if (MUTATING.has(req.op)) await ctx.onChange();
    return show ? { ok: true, show } : { ok: true };
  } catch (err) {
    if (err instanceof AdminFailure) return { ok: false, error: err.error };
    if (err instanceof ControlRequestError) {
      const code = err.error.code === 'BG_ERR_BACKING_STORE' ? 'BG_ERR_BACKING_STORE' : 'BG_ERR_INVALID_REQUEST';
      return { ok: false, error: mgmtError(code, err.error.message) };
    }
    ctx.registry.log.error({ err: (err as Error).message, op: req.kind === "tgtadm" ? req.op : "dump" }, "admin request failed");
    return { ok: false, error: mgmtError('BG_ERR_UNKNOWN', (err as Error).message) };
  }
}

async function dispatch(ctx: AdminContext, req: TgtadmRequest): Promise<ShowData | undefined> {
  switch (req.mode) {
    case 'target':
      return targetOp(ctx, req);
    case 'logicalunit':
      return lunOp(ctx, req);
    case 'account':
      return accountOp(ctx, req);
    case 'session':
    case 'conn':
      return connOp(ctx, req);
    case 'portal':
      if (req.op === 'show') return ctx.portals();
      if (!ctx.portalOp) fail('BG_ERR_UNSUPPORTED_OPERATION');
      await ctx.portalOp(req);
      return undefined;
    case 'lld':
      if (req.op !== 'show') fail('BG_ERR_UNSUPPORTED_OPERATION');
      return lldShow(ctx);
    case 'sys':
      if (req.op !== 'show') fail('BG_ERR_UNSUPPORTED_OPERATION');
      return sysShow(ctx);
  }
}

function target(ctx: AdminContext, req: TgtadmRequest): TargetRecord {
  if (req.tid === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --tid');
  const rec = ctx.registry.targets.get(req.tid);
  if (!rec || rec.cfg.lld !== req.lld) fail('BG_ERR_NO_TARGET');
  return rec;
}

async function targetOp(ctx: AdminContext, req: TgtadmRequest): Promise<ShowData | undefined> {
  const reg = ctx.registry;
  switch (req.op) {
    case 'new': {
      if (req.tid === undefined || req.tid < 1) fail('BG_ERR_INVALID_REQUEST', 'missing --tid');
      if (!req.targetname) fail('BG_ERR_INVALID_REQUEST', 'missing --targetname');
      if (reg.targets.has(req.tid) || reg.targetByName(req.targetname)) fail('BG_ERR_TARGET_EXISTS');
      const cfg: TargetConfig = {
        tid: req.tid,
        name: req.targetname,
        lld: req.lld,
        luns: [],
        incomingUsers: [],
        acl: { addresses: [], names: [] },
        params: {},
      };
      await reg.createTarget(cfg);
      return undefined;
    }
    case 'delete': {
      const rec = target(ctx, req);
      if (rec.sessions.size > 0) {
        if (!req.force) fail('BG_ERR_TARGET_ACTIVE');
        await reg.closeAllSessions(rec, 'target deleted (--force)');
      }
      await reg.deleteTarget(rec, 'target deleted');
      return undefined;
    }
    case 'show':
      // tgtadm: with --tid, the target's parameters; without, every target.
      if (req.tid !== undefined) return { kind: 'target-params', params: targetParams(ctx, target(ctx, req)) };
      return {
        kind: 'targets',
        targets: [...reg.targets.values()]
          .filter((t) => t.cfg.lld === req.lld && (req.tid === undefined || t.cfg.tid === req.tid))
          .sort((a, b) => a.cfg.tid - b.cfg.tid)
          .map(targetShow),
      };
    case 'bind':
    case 'unbind':
      return aclOp(target(ctx, req), req);
    case 'update': {
      const rec = target(ctx, req);
      if (!req.name || req.value === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --name/--value');
      if (req.name.toLowerCase() === 'state') {
        if (req.value !== 'ready' && req.value !== 'offline') fail('BG_ERR_INVALID_REQUEST', 'state is ready or offline');
        rec.state = req.value;
      } else {
        refuseRedirectLoop(ctx, { ...rec.cfg.params, [req.name]: req.value });
        if (req.name === 'CHAP_A' && !/^\s*[5-8]\s*(,\s*[5-8]\s*)*$/.test(req.value)) {
          // The CHAP algorithms the iSCSI login implements (targets/iscsi/login/chap.ts).
          fail('BG_ERR_INVALID_REQUEST', 'CHAP_A is a list of 5 (MD5), 6 (SHA-1), 7 (SHA-256), 8 (SHA3-256)');
        }
        rec.cfg.params[req.name] = req.value;
      }
      return undefined;
    }
    default:
      fail('BG_ERR_UNSUPPORTED_OPERATION');
  }
}

/** A redirect to one of the portals this daemon listens on would loop (#12 item 15). */
function refuseRedirectLoop(ctx: AdminContext, params: Record<string, string>): void {
  const address = params.RedirectAddress;
  if (!address) return;
  const port = Number(params.RedirectPort ?? ISCSI_DEFAULT_PORT);
  const shown = ctx.portals();
  const portals = shown.kind === 'portals' ? shown.portals.filter((p) => p.lld === 'iscsi') : [];
  if (isOwnEndpoint({ address, port }, portals)) {
    fail('BG_ERR_INVALID_REQUEST', `redirect to ${address}:${port} is this daemon's own portal (it would loop)`);
  }
}

function targetParams(ctx: AdminContext, rec: TargetRecord): [string, string][] {
  const p = rec.cfg.params;
  const out: [string, string][] = [
    ['nop_interval', p.nop_interval ?? '0'],
    ['nop_count', p.nop_count ?? '0'],
  ];
  const seen = new Set(out.map(([k]) => k));
  for (const [k, v] of ctx.targetParamDefaults?.(rec.cfg.lld) ?? []) {
    out.push([k, p[k] ?? v]);
    seen.add(k);
  }
  for (const [k, v] of Object.entries(p)) if (!seen.has(k)) out.push([k, v]);
  return out;
}

function aclOp(rec: TargetRecord, req: TgtadmRequest): undefined {
  const bind = req.op === 'bind';
  const list = req.initiatorAddress !== undefined ? rec.cfg.acl.addresses : req.initiatorName !== undefined ? rec.cfg.acl.names : undefined;
  const value = req.initiatorAddress ?? req.initiatorName;
  if (!list || value === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --initiator-address or --initiator-name');
  const at = list.indexOf(value);
  if (bind) {
    if (at >= 0) fail('BG_ERR_ACL_EXISTS');
    list.push(value);
  } else {
    if (at < 0) fail('BG_ERR_NO_ACL');
    list.splice(at, 1);
  }
  return undefined;
}

async function lunOp(ctx: AdminContext, req: TgtadmRequest): Promise<ShowData | undefined> {
  // tgt answers a LUN delete on a missing target with "can't find the logical unit".
  if (req.op === 'delete' && req.tid !== undefined && !ctx.registry.targets.has(req.tid)) fail('BG_ERR_NO_LUN');
  const rec = target(ctx, req);
  if (req.op === 'show') {
    if (req.name === 'checksum' && req.lun !== undefined) return lunChecksum(ctx, rec, req.lun);
    return { kind: 'targets', targets: [targetShow(rec)] };
  }
  if (req.lun === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --lun');
  switch (req.op) {
    case 'new': {
      if (rec.luns.has(req.lun) || (req.lun === 0 && rec.cfg.lld === 'iscsi')) fail('BG_ERR_LUN_EXISTS');
      if (!req.backingStore) fail('BG_ERR_INVALID_REQUEST', 'missing --backing-store');
      const cfg = lunConfigFrom(req);
      if (cfg.uuid !== undefined && ctx.registry.lunByUuid(cfg.uuid)) fail('BG_ERR_INVALID_REQUEST', `uuid ${cfg.uuid} is another LUN's`);
      await ctx.registry.addLun(rec, cfg);
      return undefined;
    }
    case 'delete': {
      if (!rec.luns.has(req.lun)) fail('BG_ERR_NO_LUN');
      if (rec.sessions.size > 0 && !req.force) fail('BG_ERR_LUN_ACTIVE');
      await ctx.registry.removeLun(rec, req.lun);
      return undefined;
    }
    case 'update': {
      const lun = rec.luns.get(req.lun);
      if (!lun) fail('BG_ERR_NO_LUN');
      const params = { ...(req.params ?? {}), ...(req.name && req.value !== undefined ? { [req.name]: req.value } : {}) };
      const size = params.size;
      if (size !== undefined) {
        const bytes = parseSize(size);
        if (typeof bytes === 'string') fail('BG_ERR_INVALID_REQUEST', `size: ${bytes}`);
        if (bytes === 0) fail('BG_ERR_INVALID_REQUEST', 'size: a LUN cannot shrink to 0 bytes');
        lun.info = await rec.runtime.request({ type: 'resizeLun', lun: req.lun, sizeBytes: bytes });
        lun.cfg.sizeBytes = bytes;
        return undefined;
      }
      const { scsi_sn: serial, scsi_id: scsiId, ...rest } = params;
      if ((serial !== undefined || scsiId !== undefined) && Object.keys(rest).length === 0) {
        await ctx.registry.updateLunIdentity(rec, lun, { ...(serial !== undefined ? { serial } : {}), ...(scsiId !== undefined ? { scsiId } : {}) });
        return undefined;
      }
      fail('BG_ERR_UNKNOWN_PARAM', Object.keys(params).join(','));
    }
    default:
      fail('BG_ERR_UNSUPPORTED_OPERATION');
  }
}

/** `--op show --mode logicalunit --name checksum`: CRC32C of a file LUN, computed on the background pool. */
async function lunChecksum(ctx: AdminContext, rec: TargetRecord, lun: number): Promise<ShowData> {
  const l = rec.luns.get(lun);
  if (!l) fail('BG_ERR_NO_LUN');
  if (l.cfg.bstype !== 'file' || !ctx.background) fail('BG_ERR_UNSUPPORTED_OPERATION', 'checksums need a file backing store');
  const r = await ctx.background.checksum(ctx.registry.backingPath(l.cfg), l.info.sizeBytes);
  return { kind: 'target-params', params: [['checksum-crc32c', r.crc32c.toString(16).padStart(8, '0')], ['bytes', String(r.bytes)]] };
}

function lunConfigFrom(req: TgtadmRequest): LunConfig {
  const bstype = normaliseBstype(req.bstype);
  const parsed = parseLunParams(req.params ?? {});
  if ('unknown' in parsed) fail('BG_ERR_UNKNOWN_PARAM', parsed.unknown);
  if ('invalid' in parsed) fail('BG_ERR_INVALID_REQUEST', `${parsed.invalid}: ${parsed.reason}`);
  const cfg: LunConfig = { lun: req.lun!, backingStore: req.backingStore!, bstype, ...parsed };
  if (req.bsopts !== undefined) cfg.bsopts = req.bsopts;
  if (req.bsoflags !== undefined) cfg.bsoflags = req.bsoflags;
  if (req.blockSize !== undefined) cfg.blockSize = req.blockSize;
  if (bstype === 'memory' && cfg.sizeBytes === undefined) cfg.sizeBytes = Number(req.backingStore) || 1 << 30;
  // The LUN's identity, generated once here and saved with it; a chunk LUN reports its volume's instead.
  if (cfg.uuid === undefined && bstype !== 'chunk') cfg.uuid = newIdentityId();
  return cfg;
}

function normaliseBstype(t: string | undefined): LunConfig['bstype'] {
  if (t === undefined || t === 'rdwr' || t === 'aio' || t === 'file' || t === 'sync') return 'file';
  if (t === 'chunk' || t === 'curve') return 'chunk';
  if (t === 'memory' || t === 'null') return 'memory';
  fail('BG_ERR_INVALID_REQUEST', `unknown backing store type ${t}`);
}

function accountOp(ctx: AdminContext, req: TgtadmRequest): ShowData | undefined {
  const reg = ctx.registry;
  if (req.op === 'show') return { kind: 'accounts', users: [...reg.accounts.keys()] };
  if (!req.user) fail('BG_ERR_INVALID_REQUEST', 'missing --user');
  switch (req.op) {
    case 'new':
      if (req.password === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --password');
      if (reg.accounts.has(req.user)) fail('BG_ERR_ACCOUNT_EXISTS');
      // A short CHAP secret falls to an offline dictionary attack on one sniffed exchange (RFC 7143 §12.1.3).
      if ([...req.password].length < MIN_CHAP_SECRET_LENGTH) {
        fail('BG_ERR_WEAK_SECRET', `at least ${MIN_CHAP_SECRET_LENGTH} characters are required (got ${[...req.password].length})`);
      }
      reg.accounts.set(req.user, { user: req.user, password: req.password });
      return undefined;
    case 'delete':
      if (!reg.accounts.delete(req.user)) fail('BG_ERR_NO_ACCOUNT');
      for (const t of reg.targets.values()) unbindUser(t.cfg, req.user);
      unbindUser(reg.discovery, req.user);
      return undefined;
    case 'bind':
    case 'unbind': {
      if (!reg.accounts.has(req.user)) fail('BG_ERR_NO_ACCOUNT');
      const holder = req.tid === undefined ? reg.discovery : target(ctx, req).cfg;
      if (req.op === 'bind') bindUser(holder, req.user, req.outgoing ?? false);
      else if (!unbindUser(holder, req.user)) fail('BG_ERR_NO_BINDING');
      return undefined;
    }
    default:
      fail('BG_ERR_UNSUPPORTED_OPERATION');
  }
}

interface UserHolder {
  incomingUsers: string[];
  outgoingUser?: string;
}

function bindUser(h: UserHolder, user: string, outgoing: boolean): void {
  if (outgoing) {
    if (h.outgoingUser !== undefined) fail(h.outgoingUser === user ? 'BG_ERR_BINDING_EXISTS' : 'BG_ERR_OUTGOING_ACCOUNT_EXISTS');
    h.outgoingUser = user;
    return;
  }
  if (h.incomingUsers.includes(user)) fail('BG_ERR_BINDING_EXISTS');
  h.incomingUsers.push(user);
}

function unbindUser(h: UserHolder, user: string): boolean {
  let found = false;
  if (h.outgoingUser === user) {
    delete h.outgoingUser;
    found = true;
  }
  const at = h.incomingUsers.indexOf(user);
  if (at >= 0) {
    h.incomingUsers.splice(at, 1);
    found = true;
  }
  return found;
}

async function connOp(ctx: AdminContext, req: TgtadmRequest): Promise<ShowData | undefined> {
  const rec = target(ctx, req);
  if (req.op === 'show') {
    const connections = [...rec.sessions.values()]
      .filter((s) => req.sid === undefined || s.sid === req.sid)
      .flatMap((s) => [...s.connections].map(([cid, c]) => ({ sid: s.sid, cid, initiator: s.initiator, address: hostOf(c.peer) })));
    return { kind: 'connections', connections };
  }
  if (req.op !== 'delete') fail('BG_ERR_UNSUPPORTED_OPERATION');
  if (req.sid === undefined) fail('BG_ERR_INVALID_REQUEST', 'missing --sid');
  const s = rec.sessions.get(req.sid);
  if (!s) fail('BG_ERR_NO_SESSION');
  if (req.mode === 'conn' && req.cid !== undefined) {
    if (!s.connections.has(req.cid)) fail('BG_ERR_NO_CONNECTION');
    await rec.runtime.request({ type: 'closeConnection', protocol: s.protocol, sid: s.sid, cid: req.cid, reason: 'closed by admin' });
  } else {
    await rec.runtime.request({ type: 'closeSession', protocol: s.protocol, sid: s.sid, reason: 'closed by admin' });
  }
  return undefined;
}

function lldShow(ctx: AdminContext): ShowData {
  const llds = (['iscsi', 'nbd'] as const).map((name) => ({
    name,
    state: 'ready',
    targets: [...ctx.registry.targets.values()].filter((t) => t.cfg.lld === name).map((t) => ({ tid: t.cfg.tid, name: t.cfg.name })),
  }));
  return { kind: 'llds', llds };
}

function sysShow(ctx: AdminContext): ShowData {
  const d = ctx.registry.discovery;
  return {
    kind: 'system',
    system: {
      state: 'ready',
      debug: false,
      llds: [
        { name: 'iscsi', state: 'ready' },
        { name: 'nbd', state: 'ready' },
      ],
      backingStores: [{ name: 'file', oflags: ['sync'] }, { name: 'memory' }, { name: 'chunk' }],
      deviceTypes: ['disk'],
      discoveryAccounts: { incoming: [...d.incomingUsers], ...(d.outgoingUser ? { outgoing: d.outgoingUser } : {}) },
    },
  };
}

export function targetShow(rec: TargetRecord): TargetShow {
  const luns: LunShow[] = [];
  if (rec.cfg.lld === 'iscsi' && !rec.luns.has(0)) luns.push(controllerLun(rec.cfg.tid));
  for (const [n, l] of [...rec.luns].sort((a, b) => a[0] - b[0])) {
    luns.push({
      lun: n,
      type: 'disk',
      scsiId: t10Designator(l.params),
      scsiSn: l.params.serial,
      sizeBytes: l.info.sizeBytes,
      blockSize: l.info.blockSize,
      online: true,
      removable: l.params.removable,
      preventRemoval: false,
      readonly: l.params.readOnly,
      swp: false,
      thinProvisioning: l.params.thinProvisioning && l.info.canDiscard,
      bsType: l.cfg.bstype === 'file' ? 'rdwr' : l.cfg.bstype,
      path: l.cfg.backingStore,
      bsoflags: [],
    });
  }
  return {
    tid: rec.cfg.tid,
    name: rec.cfg.name,
    lld: rec.cfg.lld,
    state: rec.state,
    nexuses: [...rec.sessions.values()].map((s) => ({
      nexusId: s.sid,
      initiator: s.initiator,
      connections: [...s.connections].map(([cid, c]) => ({ cid, address: hostOf(c.peer) })),
    })),
    luns,
    accounts: { incoming: [...rec.cfg.incomingUsers], ...(rec.cfg.outgoingUser ? { outgoing: rec.cfg.outgoingUser } : {}) },
    acl: { addresses: [...rec.cfg.acl.addresses], names: [...rec.cfg.acl.names] },
  };
}

function controllerLun(tid: number): LunShow {
  return {
    lun: 0,
    type: 'controller',
    scsiId: tgtScsiId(tid, 0),
    scsiSn: tgtSerial(tid, 0),
    sizeBytes: 0,
    blockSize: 1,
    online: true,
    removable: false,
    preventRemoval: false,
    readonly: false,
    swp: false,
    thinProvisioning: false,
    bsType: 'null',
    path: null,
    bsoflags: [],
  };
}

/** What VPD 0x83's T10 vendor id designator carries (inquiry.ts): scsi_id, or vendor id padded to 8 + serial. */
function t10Designator(p: LunParams): string {
  return p.t10Id ?? p.vendorId.padEnd(8, ' ').slice(0, 8) + p.serial;
}

/** tgt's default SCSI ID: "IET", padded to 8, then tid and LUN as 4 hex digits each (controller LUN 0 only). */
function tgtScsiId(tid: number, lun: number): string {
  return `IET     ${tid.toString(16).padStart(4, '0')}${lun.toString(16).padStart(4, '0')}`;
}

function hostOf(peer: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(.*):\d+$/.exec(peer);
  return m ? m[1]! : peer;
}
