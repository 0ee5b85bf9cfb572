/**
 * Login key negotiation from a table (RFC 7143 §6.2, §13): each key row
 * carries its negotiation type, and `negotiateKey` interprets the type.
 * Pure; no state beyond the arguments.
 */

export type KeyType =
  | { kind: 'list'; values: readonly string[] }
  | { kind: 'min'; lo: number; hi: number }
  | { kind: 'max'; lo: number; hi: number }
  | { kind: 'and' }
  | { kind: 'or' }
  /** Declarative: each side states its own value; no answer is negotiated. */
  | { kind: 'declarative'; numeric?: { lo: number; hi: number } }
  /** Obsolete/unsupported keys with a fixed answer (markers → No / Irrelevant). */
  | { kind: 'fixed'; answer: string };

export interface KeyDef {
  type: KeyType;
  /** Leading-only keys may be negotiated only on the first connection (§13, "LO"). */
  leadingOnly: boolean;
  security: boolean;
  default: string;
}

const num = (lo: number, hi: number) => ({ lo, hi });
const row = (type: KeyType, dflt: string, leadingOnly = true, security = false): KeyDef => ({ type, default: dflt, leadingOnly, security });

/** RFC 7143 §13 (plus §12.1 for AuthMethod, RFC 7144 for the protocol level). */
export const KEY_TABLE: Readonly<Record<string, KeyDef>> = {
  AuthMethod: row({ kind: 'list', values: ['CHAP', 'None'] }, 'None', false, true),
  HeaderDigest: row({ kind: 'list', values: ['None', 'CRC32C'] }, 'None', false),
  DataDigest: row({ kind: 'list', values: ['None', 'CRC32C'] }, 'None', false),
  MaxConnections: row({ kind: 'min', ...num(1, 65535) }, '1'),
  SendTargets: row({ kind: 'fixed', answer: 'Irrelevant' }, ''),
  TargetName: row({ kind: 'declarative' }, '', false),
  InitiatorName: row({ kind: 'declarative' }, '', false),
  TargetAlias: row({ kind: 'declarative' }, ''),
  InitiatorAlias: row({ kind: 'declarative' }, ''),
  TargetAddress: row({ kind: 'declarative' }, ''),
  TargetPortalGroupTag: row({ kind: 'declarative' }, ''),
  InitialR2T: row({ kind: 'or' }, 'Yes'),
  ImmediateData: row({ kind: 'and' }, 'Yes'),
  MaxRecvDataSegmentLength: row({ kind: 'declarative', numeric: num(512, 16777215) }, '8192', false),
  MaxBurstLength: row({ kind: 'min', ...num(512, 16777215) }, '262144'),
  FirstBurstLength: row({ kind: 'min', ...num(512, 16777215) }, '65536'),
  DefaultTime2Wait: row({ kind: 'max', ...num(0, 3600) }, '2'),
  DefaultTime2Retain: row({ kind: 'min', ...num(0, 3600) }, '20'),
  MaxOutstandingR2T: row({ kind: 'min', ...num(1, 65535) }, '1'),
  DataPDUInOrder: row({ kind: 'or' }, 'Yes'),
  DataSequenceInOrder: row({ kind: 'or' }, 'Yes'),
  ErrorRecoveryLevel: row({ kind: 'min', ...num(0, 2) }, '0'),
  SessionType: row({ kind: 'declarative' }, 'Normal'),
  TaskReporting: row({ kind: 'list', values: ['RFC3720'] }, 'RFC3720'),
  iSCSIProtocolLevel: row({ kind: 'min', ...num(0, 31) }, '0'),
  // RFC 7143 §13.25/13.26 (obsolete markers): we never use markers.
  OFMarker: row({ kind: 'fixed', answer: 'No' }, 'No', false),
  IFMarker: row({ kind: 'fixed', answer: 'No' }, 'No', false),
  OFMarkInt: row({ kind: 'fixed', answer: 'Irrelevant' }, '2048~2048', false),
  IFMarkInt: row({ kind: 'fixed', answer: 'Irrelevant' }, '2048~2048', false),
};

export type KeyOutcome =
  /** `answer`: value to send back (omitted for declarative keys); `result`: the negotiated value. */
  | { ok: true; answer?: string; result: string }
  | { ok: false; answer: 'Reject' | 'NotUnderstood' | 'Irrelevant' };

function parseNumber(v: string): number | undefined {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseBool(v: string): boolean | undefined {
  return v === 'Yes' ? true : v === 'No' ? false : undefined;
}

/**
 * Negotiate one offered key. `ours` is the target's value for it (a
 * comma list for list keys, in preference order). RFC 7143 §6.2.
 */
export function negotiateKey(key: string, offered: string, ours: string | undefined): KeyOutcome {
  const def = KEY_TABLE[key];
  if (!def) return { ok: false, answer: 'NotUnderstood' };
  if (offered === 'NotUnderstood' || offered === 'Irrelevant' || offered === 'Reject') return { ok: false, answer: 'Irrelevant' };
  const t = def.type;
  const mine = ours ?? def.default;
  switch (t.kind) {
    case 'list': {
      const supported = mine.split(',');
      // The initiator's order is its preference (§6.2.1): first match wins.
      const pick = offered.split(',').find((v) => supported.includes(v));
      return pick === undefined ? { ok: false, answer: 'Reject' } : { ok: true, answer: pick, result: pick };
    }
    case 'min':
    case 'max': {
      const n = parseNumber(offered);
      if (n === undefined || n < t.lo || n > t.hi) return { ok: false, answer: 'Reject' };
      const m = Number(mine);
      const r = String(t.kind === 'min' ? Math.min(n, m) : Math.max(n, m));
      return { ok: true, answer: r, result: r };
    }
    case 'and':
    case 'or': {
      const a = parseBool(offered);
      if (a === undefined) return { ok: false, answer: 'Reject' };
      const b = mine === 'Yes';
      const r = (t.kind === 'and' ? a && b : a || b) ? 'Yes' : 'No';
      return { ok: true, answer: r, result: r };
    }
    case 'declarative': {
      if (t.numeric) {
        const n = parseNumber(offered);
        if (n === undefined || n < t.numeric.lo || n > t.numeric.hi) return { ok: false, answer: 'Reject' };
        return { ok: true, result: String(n) };
      }
      return { ok: true, result: offered };
    }
    case 'fixed':
      return { ok: true, answer: t.answer, result: t.answer };
  }
}

/** Session/connection parameters after login, with RFC defaults filled in. */
export interface NegotiatedParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  /** The initiator's MaxRecvDataSegmentLength: the largest data segment we may send. */
  initiatorMaxRecvDataSegmentLength: number;
  /** Ours: the largest data segment the initiator may send us. */
  targetMaxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
}

/** Build NegotiatedParams from negotiated results (key → value) and our MRDSL. */
export function toParams(results: ReadonlyMap<string, string>, targetMrdsl: number): NegotiatedParams {
  const v = (k: string) => results.get(k) ?? KEY_TABLE[k]!.default;
  const n = (k: string) => Number(v(k));
  const maxBurstLength = n('MaxBurstLength');
  return {
    headerDigest: v('HeaderDigest') === 'CRC32C',
    dataDigest: v('DataDigest') === 'CRC32C',
    maxConnections: n('MaxConnections'),
    initialR2T: v('InitialR2T') === 'Yes',
    immediateData: v('ImmediateData') === 'Yes',
    initiatorMaxRecvDataSegmentLength: n('MaxRecvDataSegmentLength'),
    targetMaxRecvDataSegmentLength: targetMrdsl,
    maxBurstLength,
    // §13.14: FirstBurstLength must not exceed MaxBurstLength.
    firstBurstLength: Math.min(n('FirstBurstLength'), maxBurstLength),
    defaultTime2Wait: n('DefaultTime2Wait'),
    defaultTime2Retain: n('DefaultTime2Retain'),
    maxOutstandingR2T: n('MaxOutstandingR2T'),
    dataPDUInOrder: v('DataPDUInOrder') === 'Yes',
    dataSequenceInOrder: v('DataSequenceInOrder') === 'Yes',
    errorRecoveryLevel: n('ErrorRecoveryLevel'),
  };
}

/** Our side's values, overridable per target (config `params`). */
export const DEFAULT_TARGET_KEYS: Readonly<Record<string, string>> = {
  HeaderDigest: 'None,CRC32C',
  DataDigest: 'None,CRC32C',
  MaxConnections: '1',
  InitialR2T: 'No',
  ImmediateData: 'Yes',
  MaxRecvDataSegmentLength: '262144',
  MaxBurstLength: '1048576',
  FirstBurstLength: '262144',
  DefaultTime2Wait: '2',
  DefaultTime2Retain: '0',
  MaxOutstandingR2T: '16',
  DataPDUInOrder: 'Yes',
  DataSequenceInOrder: 'Yes',
  ErrorRecoveryLevel: '0',
  TaskReporting: 'RFC3720',
  iSCSIProtocolLevel: '1',
};
