/**
 * tgt's targets.conf → DaemonConfig, following tgt-admin's rules:
 *
 * - tids: `controller_tid` if given, else the next free tid in file order
 *   (tgt-admin numbers targets in sorted-name order; file order is what a
 *   reader of the file expects, and is documented in docs/config.md).
 * - LUNs: a `lun` inside a store block reserves that number; a target-level
 *   `lun` applies to a target's single store; the rest get the first free
 *   number from 1, backing-store entries before direct-store entries.
 * - LUN options (vendor_id, scsi_sn, write-cache, readonly, ...) may be set
 *   per target and overridden per store block.
 * - no `initiator-address` → the target accepts ALL addresses.
 * - `direct-store` is served like `backing-store` (we do not copy the
 *   device's INQUIRY data with sg_inq; a warning says so).
 * - `bs-type curve` (curve-tgt) is our `chunk` backend.
 *
 * Errors carry file and line; the whole file is refused on any error.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseLunParams, parseBool } from './lun-params.js';
import { defaultConfig, type DaemonConfig, type LunConfig, type TargetConfig } from './schema.js';
import { lexTargetsConf, type RawDirective, type RawStore, type RawTarget, type TargetsConfIo } from './targets-conf-lex.js';
import { sortIssues, validateConfig, type ConfigIssue, type LoadResult } from './validate.js';

export type { TargetsConfIo } from './targets-conf-lex.js';

/** Target parameters passed through as `--mode target --op update --name K --value V`. */
export const TARGET_PARAM_KEYS: readonly string[] = [
  'MaxRecvDataSegmentLength', 'MaxXmitDataSegmentLength', 'HeaderDigest', 'DataDigest', 'InitialR2T',
  'MaxOutstandingR2T', 'ImmediateData', 'FirstBurstLength', 'MaxBurstLength', 'DataPDUInOrder',
  'DataSequenceInOrder', 'ErrorRecoveryLevel', 'IFMarker', 'OFMarker', 'DefaultTime2Wait', 'DefaultTime2Retain',
  'OFMarkInt', 'IFMarkInt', 'MaxConnections', 'MaxQueueCmd', 'nop_interval', 'nop_count', 'RedirectAddress',
  'RedirectPort', 'RedirectReason', 'state',
];

/** Accepted and ignored, with a warning (no effect in blockgate). */
const IGNORED = new Set(['allow-in-use', 'online', 'control-port', 'sense_format', 'mode_page', 'path',
  'iSNS', 'iSNSServerIP', 'iSNSServerPort', 'iSNSAccessControl']);

const LUN_KEYS = new Set(['bs-type', 'bsopts', 'bsoflags', 'block-size', 'device-type', 'vendor_id', 'product_id',
  'product_rev', 'scsi_sn', 'scsi_id', 'removable', 'readonly', 'write-cache', 'thin_provisioning', 'params', 'size',
  'nbd-export']);

/** tgt backing-store types that mean "a local file or block device" here. */
const FILE_BSTYPES = new Set(['rdwr', 'aio', 'mmap', 'sync', 'file']);

/**
 * The replicated chunk backend: ours, and curve-tgt's Curve driver name. The
 * backing store stays as written (`vol1`, `/vol1` or curve-tgt's
 * `cbd:pool//vol1_user_`); the backend takes the volume name from it
 * (backends/chunk/client/options.ts), `bsopts` carries `mds=...` etc.
 */
const CHUNK_BSTYPES = new Set(['chunk', 'curve']);

interface Ctx {
  issues: ConfigIssue[];
  warnings: ConfigIssue[];
  lines: Map<string, { file: string; line: number }>;
}

export function parseTargetsConf(file: string, io: TargetsConfIo): LoadResult {
  const ctx: Ctx = { issues: [], warnings: [], lines: new Map() };
  const raw = lexTargetsConf(file, io, ctx.issues);
  const config = defaultConfig();
  const driver = applyGlobals(raw.globals, config, ctx);
  assignTids(raw.targets, ctx).forEach((tid, i) => {
    const t = buildTarget(raw.targets[i]!, tid, driver, i, config, ctx);
    if (t !== undefined) config.targets.push(t);
  });
  if (ctx.issues.length > 0) return { ok: false, errors: sortIssues(ctx.issues) };
  const locate = (path: string) => locateIn(ctx.lines, path, file);
  const errors = validateConfig(config, locate);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, warnings: ctx.warnings };
}

function locateIn(lines: Ctx['lines'], path: string, file: string): { file: string; line: number } {
  for (let p = path; p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
    const at = lines.get(p);
    if (at !== undefined) return at;
  }
  return { file, line: 0 };
}

function err(ctx: Ctx, d: { file: string; line: number }, reason: string): void {
  ctx.issues.push({ file: d.file, line: d.line, reason });
}

function applyGlobals(globals: RawDirective[], config: DaemonConfig, ctx: Ctx): 'iscsi' | 'nbd' {
  let driver: 'iscsi' | 'nbd' = 'iscsi';
  for (const d of globals) {
    if (d.key === 'default-driver') {
      if (d.value === 'iscsi' || d.value === 'nbd') driver = d.value;
      else err(ctx, d, `driver ${JSON.stringify(d.value)} is not supported (iscsi, nbd)`);
    } else if (d.key === 'incomingdiscoveryuser' || d.key === 'outgoingdiscoveryuser') {
      const user = addAccount(d, config, ctx, `discovery`);
      if (user === undefined) continue;
      if (d.key === 'incomingdiscoveryuser') config.discovery.incomingUsers.push(user);
      else config.discovery.outgoingUser = user;
    } else if (d.key === 'ignore-errors') {
      ctx.warnings.push({ file: d.file, line: d.line, reason: 'ignore-errors ignored: a config with errors is refused whole' });
    } else if (IGNORED.has(d.key)) {
      ctx.warnings.push({ file: d.file, line: d.line, reason: `${d.key} ignored (no effect in blockgate)` });
    } else err(ctx, d, `unknown global directive ${JSON.stringify(d.key)}`);
  }
  return driver;
}

/** "user password" → accounts (deduplicated); returns the user name. */
function addAccount(d: RawDirective, config: DaemonConfig, ctx: Ctx, _where: string): string | undefined {
  const [user, password, ...extra] = d.value.split(/\s+/);
  if (user === undefined || user === '' || password === undefined || extra.length > 0) {
    err(ctx, d, `${d.key} needs "<user> <password>"`);
    return undefined;
  }
  const existing = config.accounts.find((a) => a.user === user);
  if (existing === undefined) {
    ctx.lines.set(`accounts.${config.accounts.length}`, d);
    config.accounts.push({ user, password });
  } else if (existing.password !== password) {
    err(ctx, d, `account ${JSON.stringify(user)} is defined again with a different password`);
  }
  return user;
}

function assignTids(targets: RawTarget[], ctx: Ctx): number[] {
  const reserved = targets.map((t) => {
    const d = t.directives.find((x) => x.key === 'controller_tid');
    if (d === undefined) return undefined;
    const n = Number(d.value);
    if (!Number.isInteger(n) || n < 1) err(ctx, d, 'controller_tid must be an integer >= 1');
    return n;
  });
  const used = new Set(reserved.filter((n): n is number => n !== undefined));
  let next = 1;
  return reserved.map((r) => {
    if (r !== undefined) return r;
    while (used.has(next)) next++;
    used.add(next);
    return next;
  });
}

function buildTarget(raw: RawTarget, tid: number, driver: 'iscsi' | 'nbd', index: number, config: DaemonConfig, ctx: Ctx): TargetConfig | undefined {
  const at = `targets.${index}`;
  ctx.lines.set(at, raw);
  const t: TargetConfig = { tid, name: raw.name, lld: driver, luns: [], incomingUsers: [], acl: { addresses: [], names: [] }, params: {} };
  const lunDefaults: RawDirective[] = [];
  let targetLun: RawDirective | undefined;
  let outgoingSeen = false;
  for (const d of raw.directives) {
    if (LUN_KEYS.has(d.key)) lunDefaults.push(d);
    else if (d.key === 'lun') targetLun = d;
    else if (d.key === 'driver') {
      if (d.value === 'iscsi' || d.value === 'nbd') t.lld = d.value;
      else err(ctx, d, `driver ${JSON.stringify(d.value)} is not supported (iscsi, nbd)`);
    } else if (d.key === 'controller_tid') continue;
    else if (d.key === 'alias') t.alias = d.value;
    else if (d.key === 'initiator-address') {
      for (const a of d.value.split(/[\s,]+/)) {
        ctx.lines.set(`${at}.acl.addresses.${t.acl.addresses.length}`, d);
        t.acl.addresses.push(a);
      }
    } else if (d.key === 'initiator-name') {
      for (const n of d.value.split(/[\s,]+/)) t.acl.names.push(n);
    } else if (d.key === 'incominguser') {
      const user = addAccount(d, config, ctx, at);
      if (user !== undefined && !t.incomingUsers.includes(user)) {
        ctx.lines.set(`${at}.incomingUsers.${t.incomingUsers.length}`, d);
        t.incomingUsers.push(user);
      }
    } else if (d.key === 'outgoinguser') {
      if (outgoingSeen) {
        ctx.warnings.push({ file: d.file, line: d.line, reason: 'only one outgoinguser is used; this one is ignored' });
        continue;
      }
      outgoingSeen = true;
      const user = addAccount(d, config, ctx, at);
      if (user !== undefined) t.outgoingUser = user;
    } else if (TARGET_PARAM_KEYS.includes(d.key)) t.params[d.key] = d.value;
    else if (IGNORED.has(d.key)) ctx.warnings.push({ file: d.file, line: d.line, reason: `${d.key} ignored (no effect in blockgate)` });
    else err(ctx, d, `unknown target directive ${JSON.stringify(d.key)}`);
  }
  if (t.acl.addresses.length === 0) t.acl.addresses.push('ALL'); // tgt-admin: no initiator-address = allow all
  t.luns = buildLuns(raw, lunDefaults, targetLun, at, ctx);
  return t;
}

function buildLuns(raw: RawTarget, defaults: RawDirective[], targetLun: RawDirective | undefined, at: string, ctx: Ctx): LunConfig[] {
  // backing-store entries get numbers before direct-store entries (tgt-admin).
  const stores = [...raw.stores.filter((s) => s.kind === 'backing-store'), ...raw.stores.filter((s) => s.kind === 'direct-store')];
  if (targetLun !== undefined && stores.length !== 1) {
    err(ctx, targetLun, "a target-level 'lun' needs exactly one backing-store; put 'lun' inside <backing-store> blocks");
  }
  const fixed = stores.map((s) => fixedLun(s, stores.length === 1 ? targetLun : undefined, ctx));
  const used = new Set(fixed.filter((n): n is number => n !== undefined));
  let next = 1;
  return stores.map((s, i) => {
    let lun = fixed[i];
    if (lun === undefined) {
      while (used.has(next)) next++;
      lun = next;
      used.add(lun);
    }
    if (s.kind === 'direct-store') {
      ctx.warnings.push({ file: s.file, line: s.line, reason: 'direct-store is served like backing-store (INQUIRY data is not copied from the device)' });
    }
    ctx.lines.set(`${at}.luns.${i}`, s);
    return buildLun(s, lun, [...defaults, ...s.directives], ctx);
  });
}

function fixedLun(s: RawStore, targetLun: RawDirective | undefined, ctx: Ctx): number | undefined {
  const d = s.directives.find((x) => x.key === 'lun') ?? targetLun;
  if (d === undefined) return undefined;
  const n = Number(d.value);
  if (!Number.isInteger(n) || n < 1) {
    err(ctx, d, 'lun must be an integer >= 1');
    return undefined;
  }
  return n;
}

/** Later directives win: store-level ones come after target-level defaults. */
function buildLun(s: RawStore, lun: number, directives: RawDirective[], ctx: Ctx): LunConfig {
  const l: LunConfig = { lun, backingStore: s.path, bstype: 'file' };
  for (const d of directives) applyLunDirective(l, d, ctx);
  return l;
}

function applyLunDirective(l: LunConfig, d: RawDirective, ctx: Ctx): void {
  const bool = (): boolean | undefined => {
    const b = parseBool(d.value);
    if (b === undefined) err(ctx, d, `${d.key} expects on/off, yes/no or 1/0`);
    return b;
  };
  const text = (max: number): string => {
    if (d.value.length > max) ctx.warnings.push({ file: d.file, line: d.line, reason: `${d.key} truncated to ${max} characters` });
    return d.value.slice(0, max);
  };
  switch (d.key) {
    case 'lun': return;
    case 'bs-type': {
      const v = d.value;
      if (FILE_BSTYPES.has(v)) l.bstype = 'file';
      else if (CHUNK_BSTYPES.has(v)) l.bstype = 'chunk';
      else if (v === 'memory') l.bstype = v;
      else err(ctx, d, `backing store type ${JSON.stringify(v)} is not supported (rdwr, aio, file, chunk, curve, memory)`);
      return;
    }
    // tgt-admin (Config::General) drops the quotes around `bsopts "a=1;b=2"`.
    case 'bsopts': l.bsopts = d.value.replace(/^"(.*)"$/, '$1'); return;
    case 'bsoflags': l.bsoflags = d.value; return;
    case 'block-size': l.blockSize = Number(d.value); return;
    case 'device-type':
      if (d.value !== 'disk') err(ctx, d, `device-type ${JSON.stringify(d.value)} is not supported (disk)`);
      return;
    case 'vendor_id': l.vendorId = text(8); return;
    case 'product_id': l.productId = text(16); return;
    case 'product_rev': l.productRev = text(4); return;
    case 'scsi_sn': l.serial = d.value; return;
    case 'scsi_id': l.scsiId = d.value; return;
    case 'nbd-export': l.nbdExport = d.value; return;
    case 'size': applyParams(l, { size: d.value }, d, ctx); return;
    case 'params': applyParams(l, parseKv(d.value), d, ctx); return;
    default: setBool(l, d.key, bool());
  }
}

function setBool(l: LunConfig, key: string, v: boolean | undefined): void {
  if (v === undefined) return;
  if (key === 'removable') l.removable = v;
  else if (key === 'readonly') l.readOnly = v;
  else if (key === 'write-cache') l.writeCache = v;
  else if (key === 'thin_provisioning') l.thinProvisioning = v;
}

function applyParams(l: LunConfig, kv: Record<string, string>, d: RawDirective, ctx: Ctx): void {
  const parsed = parseLunParams(kv);
  if ('unknown' in parsed) err(ctx, d, `unknown LUN parameter ${JSON.stringify(parsed.unknown)}`);
  else if ('invalid' in parsed) err(ctx, d, `bad value for LUN parameter ${JSON.stringify(parsed.invalid)}: ${parsed.reason}`);
  else Object.assign(l, parsed);
}

/** "k=v,k=v" (tgt --params syntax). */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) out[part.trim()] = '';
    else out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Real filesystem access with a minimal glob (wildcards in the last component only). */
export function nodeTargetsConfIo(): TargetsConfIo {
  return {
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    glob(pattern) {
      const name = basename(pattern);
      if (!/[*?]/.test(name)) return [pattern];
      const dir = dirname(pattern);
      const re = new RegExp('^' + name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
      try {
        return readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
      } catch {
        return [];
      }
    },
  };
}
