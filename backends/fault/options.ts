/**
 * The fault filter's part of a LUN's `bsopts` string. Pure: the text in,
 * the parsed options plus the untouched rest (for the wrapped backend) out;
 * errors are returned as text for the caller to turn into BlockError EINVAL.
 *
 * Items are `key=value`, separated by `,` or `;`. Keys (see README.md):
 *   delay-<op>=<duration>      200ms, 1.5s, 250 (ms)
 *   error-<op>=<KIND>[@<rate>] KIND a BlockError kind, rate 0..1 or 0..100%
 *   error-file=<path>          inject errors only while this file exists
 * where <op> is read, write, zero, trim, flush, or all.
 */
import type { BlockErrorKind } from '../../src/block/device.js';

export const FAULT_OPS = ['read', 'write', 'zero', 'trim', 'flush'] as const;
export type FaultOp = (typeof FAULT_OPS)[number];

export interface FaultRule {
  kind: BlockErrorKind;
  /** Probability in [0, 1] that one request fails. */
  rate: number;
}

export interface FaultOptions {
  delayMs: Partial<Record<FaultOp, number>>;
  errors: Partial<Record<FaultOp, FaultRule>>;
  /** Errors are injected only while this path exists (nbdkit error-file). */
  errorFile?: string;
}

export interface FaultSplit {
  /** undefined when bsopts names no fault key. */
  options?: FaultOptions;
  /** The remaining items, for the wrapped backend (undefined when none). */
  rest?: string;
}

const KINDS: ReadonlySet<string> = new Set(['EIO', 'ENOSPC', 'EROFS', 'EPERM', 'EINVAL', 'ENOTSUP', 'ESHUTDOWN', 'EOVERFLOW', 'ETIMEDOUT']);
const FAULT_KEY = /^(delay|error)-(read|write|zero|trim|flush|all|file)$/;
/** One hour: a delay longer than any initiator timeout is a configuration mistake. */
const MAX_DELAY_MS = 3_600_000;

export function splitFaultBsopts(text: string | undefined): FaultSplit | string {
  const rest: string[] = [];
  const opts: FaultOptions = { delayMs: {}, errors: {} };
  let any = false;
  for (const raw of (text ?? '').split(/([;,])/)) {
    const item = raw.trim();
    const eq = item.indexOf('=');
    const m = FAULT_KEY.exec(eq < 0 ? '' : item.slice(0, eq).trim());
    if (!m) {
      rest.push(raw);
      continue;
    }
    any = true;
    const bad = applyItem(opts, m[1] as 'delay' | 'error', m[2]!, item.slice(eq + 1).trim());
    if (bad !== undefined) return bad;
  }
  if (!any) return text === undefined ? {} : { rest: text };
  const left = joinRest(rest);
  return left === undefined ? { options: opts } : { options: opts, rest: left };
}

function applyItem(opts: FaultOptions, what: 'delay' | 'error', op: string, value: string): string | undefined {
  if (op === 'file') {
    if (what !== 'error' || value === '') return `bsopts ${what}-file: expected error-file=<path>`;
    opts.errorFile = value;
    return undefined;
  }
  const ops: readonly FaultOp[] = op === 'all' ? FAULT_OPS : [op as FaultOp];
  if (what === 'delay') {
    const ms = parseDuration(value);
    if (ms === undefined) return `bsopts delay-${op}: ${JSON.stringify(value)} is not a duration (e.g. 200ms, 1s)`;
    for (const o of ops) opts.delayMs[o] = ms;
    return undefined;
  }
  const rule = parseRule(value);
  if (typeof rule === 'string') return `bsopts error-${op}: ${rule}`;
  for (const o of ops) opts.errors[o] = rule;
  return undefined;
}

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|us)?$/.exec(text);
  if (!m) return undefined;
  const scale = m[2] === 's' ? 1000 : m[2] === 'us' ? 0.001 : 1;
  const ms = Number(m[1]) * scale;
  return ms <= MAX_DELAY_MS ? ms : undefined;
}

function parseRule(text: string): FaultRule | string {
  const [kind, rateText] = text.split('@', 2) as [string, string | undefined];
  if (!KINDS.has(kind)) return `${JSON.stringify(kind)} is not an error kind (EIO, ENOSPC, ...)`;
  let rate = 1;
  if (rateText !== undefined) {
    const pct = rateText.endsWith('%');
    rate = Number(pct ? rateText.slice(0, -1) : rateText) / (pct ? 100 : 1);
    if (rateText === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) return `rate ${JSON.stringify(rateText)} is not in 0..1 (or 0%..100%)`;
  }
  return { kind: kind as BlockErrorKind, rate };
}

/** Re-join the items the fault filter did not take, dropping dangling separators. */
function joinRest(parts: string[]): string | undefined {
  const out: string[] = [];
  for (const p of parts) {
    const isSep = p === ';' || p === ',';
    if (isSep && (out.length === 0 || isSepStr(out[out.length - 1]!))) continue;
    if (!isSep && p.trim() === '') continue;
    out.push(p);
  }
  while (out.length > 0 && isSepStr(out[out.length - 1]!)) out.pop();
  return out.length === 0 ? undefined : out.join('');
}

function isSepStr(s: string): boolean {
  return s === ';' || s === ',';
}
