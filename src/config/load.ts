/**
 * Load a config file into a DaemonConfig, refusing it whole on any error.
 *
 * YAML (our format) is checked against a table of field specs while walking
 * the YAML node tree, so every issue carries the file and line of the value
 * at fault; then the semantic checks of validate.ts run. A `.conf` file is
 * parsed as tgt's targets.conf (targets-conf.ts). Nothing is applied here:
 * the caller gets either a complete config or the list of problems.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { parseSize } from './size.js';
import { BSTYPES, defaultConfig, LOG_LEVELS, type DaemonConfig } from './schema.js';
import { parseTargetsConf, nodeTargetsConfIo } from './targets-conf.js';
import { validateConfig, type ConfigIssue, type LoadResult } from './validate.js';

type Spec =
  | { t: 'string' }
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'size' }
  | { t: 'list'; of: Spec }
  | { t: 'object'; fields: Record<string, Spec>; required?: readonly string[] }
  | { t: 'strmap' };

const str: Spec = { t: 'string' };
const bool: Spec = { t: 'bool' };
const strList: Spec = { t: 'list', of: str };
const int = (min: number, max: number): Spec => ({ t: 'int', min, max });

const LUN_SPEC: Spec = {
  t: 'object',
  required: ['lun'],
  fields: {
    lun: int(0, 65535), backingStore: str, bstype: { t: 'enum', values: BSTYPES }, bsopts: str,
    bsoflags: str, sizeBytes: { t: 'size' }, blockSize: int(512, 65536), readOnly: bool, removable: bool,
    vendorId: str, productId: str, productRev: str, uuid: str, serial: str, scsiId: str, writeCache: bool,
    thinProvisioning: bool, nbdExport: str,
  },
};

const TARGET_SPEC: Spec = {
  t: 'object',
  required: ['name'],
  fields: {
    tid: int(1, 0x7fffffff), name: str, lld: { t: 'enum', values: ['iscsi', 'nbd'] }, alias: str,
    luns: { t: 'list', of: LUN_SPEC }, incomingUsers: strList, outgoingUser: str,
    acl: { t: 'object', fields: { addresses: strList, names: strList } }, params: { t: 'strmap' },
  },
};

/** The whole YAML file. Keys are documented in docs/config.md. */
export const CONFIG_SPEC: Spec = {
  t: 'object',
  fields: {
    iscsiPortals: strList, nbdListen: strList, adminSocket: str, metricsListen: str,
    logLevel: { t: 'enum', values: LOG_LEVELS }, dataDir: str, singleLoop: bool, naaCompanyId: str,
    accounts: { t: 'list', of: { t: 'object', required: ['user', 'password'], fields: { user: str, password: str } } },
    discovery: { t: 'object', fields: { incomingUsers: strList, outgoingUser: str } },
    iscsi: {
      t: 'object',
      fields: { maxLogins: int(1, 1_000_000), maxLoginsPerAddress: int(1, 1_000_000), loginTimeoutSeconds: int(1, 3600) },
    },
    nbd: {
      t: 'object',
      fields: {
        tls: { t: 'enum', values: ['off', 'on', 'require'] }, tlsCert: str, tlsKey: str, tlsCa: str,
        tlsPskFile: str, tlsVerifyPeer: bool, defaultExport: str,
        maxHandshakes: int(1, 1_000_000), maxHandshakesPerAddress: int(1, 1_000_000),
        handshakeTimeoutSeconds: int(1, 3600), unixSocketMode: str,
      },
    },
    replyBudget: { t: 'object', fields: { perConnection: { t: 'size' }, daemon: { t: 'size' } } },
    targets: { t: 'list', of: TARGET_SPEC },
  },
};

interface WalkCtx {
  file: string;
  lc: LineCounter;
  issues: ConfigIssue[];
  lines: Map<string, number>;
}

/** Load `path`: `.conf` → targets.conf syntax, anything else → YAML. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  if (path.endsWith('.conf')) return parseTargetsConf(path, nodeTargetsConfIo());
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ file: path, line: 0, reason: (e as Error).message }] };
  }
  return parseConfigYaml(text, path);
}

/** Parse YAML text. Pure apart from nothing: no I/O. */
export function parseConfigYaml(text: string, file: string): LoadResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const ctx: WalkCtx = { file, lc, issues: [], lines: new Map() };
  for (const err of doc.errors) {
    ctx.issues.push({ file, line: err.linePos?.[0]?.line ?? 0, reason: err.message.split('\n')[0]! });
  }
  if (ctx.issues.length > 0) return { ok: false, errors: ctx.issues };
  const root = doc.contents as Node | null;
  const raw = root === null || (isScalar(root) && root.value === null) ? {} : walk(root, CONFIG_SPEC, '', ctx);
  if (ctx.issues.length > 0 || raw === undefined) return { ok: false, errors: ctx.issues };
  const config = applyDefaults(raw as Record<string, unknown>);
  const locate = (path: string) => ({ file, line: lineFor(ctx.lines, path) });
  const errors = validateConfig(config, locate);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, warnings: [] };
}

function lineFor(lines: Map<string, number>, path: string): number {
  for (let p = path; ; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
    const line = lines.get(p);
    if (line !== undefined) return line;
    if (p === '') return 0;
  }
}

function walk(node: Node, spec: Spec, path: string, ctx: WalkCtx): unknown {
  const line = node.range ? ctx.lc.linePos(node.range[0]).line : 0;
  ctx.lines.set(path, line);
  const bad = (reason: string): undefined => {
    ctx.issues.push({ file: ctx.file, line, reason: path === '' ? reason : `${path}: ${reason}` });
    return undefined;
  };
  switch (spec.t) {
    case 'list':
      if (!isSeq(node)) return bad('expected a list');
      return node.items.map((item, i) => walk(item as Node, spec.of, join(path, String(i)), ctx));
    case 'object':
      return walkObject(node, spec, path, ctx, bad);
    case 'strmap':
      return walkStrMap(node, bad);
    default:
      return walkScalar(node, spec, bad);
  }
}

function walkObject(
  node: Node,
  spec: Extract<Spec, { t: 'object' }>,
  path: string,
  ctx: WalkCtx,
  bad: (reason: string) => undefined,
): unknown {
  if (!isMap(node)) return bad('expected a mapping');
  const out: Record<string, unknown> = {};
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const fieldSpec = spec.fields[key];
    const keyLine = isScalar(pair.key) && pair.key.range ? ctx.lc.linePos(pair.key.range[0]).line : 0;
    if (fieldSpec === undefined) {
      ctx.issues.push({ file: ctx.file, line: keyLine, reason: `unknown key ${JSON.stringify(join(path, key))}` });
      continue;
    }
    if (pair.value === null) {
      ctx.issues.push({ file: ctx.file, line: keyLine, reason: `${join(path, key)}: missing value` });
      continue;
    }
    out[key] = walk(pair.value as Node, fieldSpec, join(path, key), ctx);
  }
  for (const req of spec.required ?? []) if (!(req in out)) bad(`missing required key ${JSON.stringify(req)}`);
  return out;
}

function walkStrMap(node: Node, bad: (r: string) => undefined): unknown {
  if (!isMap(node)) return bad('expected a mapping of name: value');
  const out: Record<string, string> = {};
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const v = isScalar(pair.value) ? pair.value.value : undefined;
    if (typeof v === 'boolean') out[key] = v ? 'Yes' : 'No'; // iSCSI boolean keys are Yes/No
    else if (typeof v === 'string' || typeof v === 'number') out[key] = String(v);
    else bad(`${key}: expected a scalar value`);
  }
  return out;
}

function walkScalar(node: Node, spec: Spec, bad: (r: string) => undefined): unknown {
  if (!isScalar(node)) return bad('expected a single value');
  const v = node.value;
  switch (spec.t) {
    case 'string':
      return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : bad('expected a string');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('expected true or false');
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return bad('expected an integer');
      return v >= spec.min && v <= spec.max ? v : bad(`must be ${spec.min}..${spec.max}`);
    case 'enum':
      return spec.values.includes(String(v)) ? String(v) : bad(`must be one of ${spec.values.join(', ')}`);
    case 'size': {
      const n = typeof v === 'number' || typeof v === 'string' ? parseSize(v) : 'expected a size';
      return typeof n === 'number' ? n : bad(n);
    }
    default:
      return bad('unexpected value');
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Fill defaults; optional keys that were absent stay absent. */
function applyDefaults(raw: Record<string, unknown>): DaemonConfig {
  const base = defaultConfig();
  const config = { ...base, ...raw } as DaemonConfig;
  config.accounts = config.accounts ?? [];
  config.discovery = { incomingUsers: [], ...(raw.discovery as object | undefined) };
  let nextTid = 1;
  const used = new Set((config.targets ?? []).map((t) => t.tid).filter((t) => t !== undefined));
  config.targets = (config.targets ?? []).map((t) => {
    let tid = t.tid;
    if (tid === undefined) {
      while (used.has(nextTid)) nextTid++;
      tid = nextTid;
      used.add(tid);
    }
    return {
      ...t,
      tid,
      lld: t.lld ?? 'iscsi',
      luns: (t.luns ?? []).map((l) => ({ ...l, backingStore: l.backingStore ?? '', bstype: l.bstype ?? 'file' })),
      incomingUsers: t.incomingUsers ?? [],
      acl: t.acl === undefined ? { addresses: ['ALL'], names: [] } : { addresses: t.acl.addresses ?? [], names: t.acl.names ?? [] },
      params: t.params ?? {},
    };
  });
  return config;
}
