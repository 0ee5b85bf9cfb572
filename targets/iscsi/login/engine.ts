/**
 * The login phase of one connection (RFC 7143 §6.3, §11.12, §11.13) as a pure
 * state machine: `step(input) → actions`. Directory lookups are synchronous
 * queries; randomness (CHAP challenges) arrives with each input.
 *
 * Stages: SECURITY (0) → OPERATIONAL (1) → FULL_FEATURE (3), with T (transit),
 * C (continue: text spans several PDUs) and CSG/NSG handled per §11.12.
 * Failures answer with a Login Response carrying the status class/detail and
 * then the shell closes the connection (§11.13.5).
 *
 * CHAP responses are judged under an `AuthThrottle` (throttle.ts) shared by
 * the portal's connections: a throttled outcome comes after a `wait` action,
 * which the shell performs with a timer on that connection only.
 */
import { LoginStatus, Op, Stage } from '../constants.js';
import type { IscsiDirectory, IscsiTargetEntry } from '../directory.js';
import type { Draft, LoginRequest, LoginResponse } from '../pdu-types.js';
import { decodeText, encodeText, type KeyPairs } from '../text.js';
import { authRequired, isAuthKey, stepAuth, type AuthState } from './auth.js';
import { DEFAULT_CHAP_ALGORITHMS } from './chap.js';
import { DEFAULT_TARGET_KEYS, KEY_TABLE, negotiateKey, toParams, type NegotiatedParams } from './keys.js';
import { checkIdentity, type Identity } from './identity.js';
import type { AuthSubject, AuthThrottle } from './throttle.js';

/** Commands the target accepts beyond ExpCmdSN (MaxCmdSN - ExpCmdSN + 1). */
export const CMD_WINDOW = 128;
const MAX_LOGIN_TEXT = 64 * 1024;

export interface LoginEnv {
  directory: Pick<IscsiDirectory, 'findTarget' | 'findSession' | 'allocateSid' | 'discoveryAuth'>;
  initiatorAddress: string;
  /** Portal group tag of the portal the initiator connected to. */
  tpgt: number;
  /** The address and port the login arrived on (redirect loop check). */
  arrivedOn?: { address: string; port: number };
  /** Every portal of this daemon (redirect loop check); wildcard addresses allowed. */
  ownPortals?: readonly { address: string; port: number }[];
  /** Failed-authentication throttle shared by the portal's connections. */
  throttle?: AuthThrottle;
}

export interface LoginInput {
  type: 'pdu';
  pdu: LoginRequest;
  /** >= 33 fresh random bytes (crypto.randomBytes); used for CHAP challenges. */
  random: Buffer;
  /** Milliseconds on a monotonic clock (the throttle's time). */
  now: number;
}

export interface LoginResult {
  sessionType: 'Normal' | 'Discovery';
  target?: IscsiTargetEntry;
  initiatorName: string;
  initiatorAlias?: string;
  isid: string;
  tsih: number;
  cid: number;
  params: NegotiatedParams;
  expCmdSN: number;
  /** StatSN of the next response after the final login response. */
  statSN: number;
  addToSession: boolean;
  reinstate?: number;
  authUser?: string;
  /** The target's redirect was not followed: it points at this daemon's own portal. */
  redirectIgnored?: string;
}

/** Why an authentication failed, for the metric: a wrong CHAP answer, refused unjudged (throttled), or anything else. */
export type AuthFailureKind = 'chap' | 'throttled' | 'protocol';

export type LoginAction =
  | { type: 'send'; pdu: Draft<LoginResponse> }
  /** Send `pdu` (a non-zero status), then close; `reason` is for the log. */
  | { type: 'fail'; pdu: Draft<LoginResponse>; status: number; reason: string; auth?: AuthFailureKind }
  /** Perform the following actions `ms` from now (throttled authentication); read nothing meanwhile. */
  | { type: 'wait'; ms: number }
  /** Login complete: `pdu` is the final response (T=1, NSG=3), not yet sent. */
  | { type: 'complete'; pdu: Draft<LoginResponse>; result: LoginResult };

export class LoginEngine {
  private phase: 'first' | 'active' | 'done' = 'first';
  private stage: number = Stage.SECURITY;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private statSN = 0;
  private cmdSN = 0;
  private isid = '';
  private tsih = 0;
  private cid = 0;
  private identity?: Identity;
  private ours: Record<string, string> = { ...DEFAULT_TARGET_KEYS };
  private readonly results = new Map<string, string>();
  private auth: AuthState = { kind: 'start' };
  private declaredMrdsl = false;

  constructor(private readonly env: LoginEnv) {}

  step(input: LoginInput): LoginAction[] {
    const pdu = input.pdu;
    if (this.phase === 'done') return [this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'login request after completion')];
    const early = this.checkHeader(pdu);
    if (early) return [early];
    if (pdu.cont) {
      // §11.12.2: accumulate; answer each C=1 PDU with an empty response.
      this.pending.push(pdu.data);
      this.pendingBytes += pdu.data.length;
      if (this.pendingBytes > MAX_LOGIN_TEXT) return [this.fail(pdu, LoginStatus.OUT_OF_RESOURCES, 'login text too long')];
      return [{ type: 'send', pdu: this.response(pdu, { transit: false, nsg: 0 }) }];
    }
    const text = decodeText(this.pending.length ? Buffer.concat([...this.pending, pdu.data]) : pdu.data);
    this.pending = [];
    this.pendingBytes = 0;
    if (text.malformed.length) return [this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'malformed login text')];
    const keys = new Map(text.pairs);
    if (!this.identity) {
      const id = checkIdentity(keys, pdu, this.env);
      if ('status' in id) return [this.fail(pdu, id.status, id.reason, id.data)];
      this.identity = id;
      this.ours = { ...DEFAULT_TARGET_KEYS, ...(id.target?.params ?? {}) };
      if (pdu.csg !== Stage.SECURITY && authRequired(this.authAccounts())) {
        return [this.fail(pdu, LoginStatus.AUTHENTICATION_FAILURE, 'security stage skipped', undefined, 'protocol')];
      }
    }
    return this.negotiate(pdu, text.pairs, keys, input);
  }

  private checkHeader(pdu: LoginRequest): LoginAction | undefined {
    if (this.phase === 'first') {
      this.phase = 'active';
      Object.assign(this, { isid: pdu.isid, tsih: pdu.tsih, cid: pdu.cid, statSN: pdu.expStatSN, cmdSN: pdu.cmdSN, stage: pdu.csg });
      // §11.12.4: we speak version 0x00 only.
      if (pdu.versionMin > 0) return this.fail(pdu, LoginStatus.UNSUPPORTED_VERSION, 'unsupported version');
    } else if (pdu.isid !== this.isid || pdu.tsih !== this.tsih || pdu.cid !== this.cid) {
      return this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'ISID/TSIH/CID changed during login');
    }
    if (pdu.csg !== this.stage || pdu.csg === 2 || pdu.csg === Stage.FULL_FEATURE) {
      return this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'bad CSG');
    }
    if (pdu.transit && (pdu.nsg <= pdu.csg || pdu.nsg === 2)) return this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'bad NSG');
    if (pdu.transit && pdu.cont) return this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'T and C both set');
    return undefined;
  }

  private authAccounts() {
    const id = this.identity!;
    return id.sessionType === 'Discovery' ? this.env.directory.discoveryAuth() : { incoming: id.target!.incoming, outgoing: id.target!.outgoing };
  }

  private negotiate(pdu: LoginRequest, pairs: KeyPairs, keys: Map<string, string>, input: LoginInput): LoginAction[] {
    const answers: KeyPairs = [];
    let before: LoginAction[] = [];
    if (this.stage === Stage.SECURITY) {
      const sec = this.security(pdu, new Map([...keys].filter(([k]) => isAuthKey(k))), input);
      if (sec.failed) return sec.failed;
      before = sec.before;
      answers.push(...sec.answers);
    } else if (pairs.some(([k]) => isAuthKey(k))) {
      return [this.fail(pdu, LoginStatus.INITIATOR_ERROR, 'security key in operational stage')];
    }
    for (const [key, value] of pairs) {
      if (isAuthKey(key) || IDENTITY_KEYS.has(key)) continue;
      if (value === 'NotUnderstood' || value === 'Irrelevant' || value === 'Reject') continue;
      const def = KEY_TABLE[key];
      if (def?.leadingOnly && this.identity!.addToSession) {
        answers.push([key, 'Irrelevant']);
        continue;
      }
      const out = negotiateKey(key, value, this.ours[key]);
      if (out.ok) this.results.set(key, out.result);
      if (out.answer !== undefined) answers.push([key, out.answer]);
      if (key === 'MaxRecvDataSegmentLength' && out.ok) this.declareMrdsl(answers);
    }
    this.addDeclarations(answers);
    return [...before, this.transition(pdu, answers)];
  }

  /**
   * The security keys of one request. A CHAP response is judged under the
   * throttle: its outcome, success or failure, may come after a `wait`.
   */
  private security(pdu: LoginRequest, sec: Map<string, string>, input: LoginInput): { failed?: LoginAction[]; before: LoginAction[]; answers: KeyPairs } {
    const accounts = this.authAccounts();
    const judging = this.auth.kind === 'chap-wait-r' && (sec.has('CHAP_N') || sec.has('CHAP_R'));
    const throttle = judging ? this.env.throttle : undefined;
    const user = sec.get('CHAP_N');
    const who: AuthSubject = { address: this.env.initiatorAddress };
    if (user !== undefined && accounts.incoming.some((a) => a.user === user)) who.account = user;
    const before: LoginAction[] = [];
    let delayMs = 0;
    if (throttle) {
      const d = throttle.admit(who, input.now);
      if (d.kind === 'refuse') {
        const refused = this.fail(pdu, LoginStatus.AUTHENTICATION_FAILURE, 'authentication throttled', undefined, 'throttled');
        return { failed: [{ type: 'wait', ms: d.delayMs }, refused], before, answers: [] };
      }
      delayMs = d.delayMs;
      if (delayMs > 0) before.push({ type: 'wait', ms: delayMs });
    }
    const r = stepAuth(this.auth, sec, { ...accounts, random: input.random, chapAlgorithms: this.ours['CHAP_A'] ?? DEFAULT_CHAP_ALGORITHMS });
    this.auth = r.state;
    if (throttle) {
      if (r.fail) throttle.failed(who, input.now + delayMs);
      else throttle.succeeded(who);
    }
    if (r.fail) return { failed: [...before, this.fail(pdu, LoginStatus.AUTHENTICATION_FAILURE, r.fail, undefined, judging ? 'chap' : 'protocol')], before, answers: [] };
    return { before, answers: r.answers };
  }

  private declareMrdsl(answers: KeyPairs): void {
    if (this.declaredMrdsl) return;
    this.declaredMrdsl = true;
    answers.push(['MaxRecvDataSegmentLength', this.targetMrdsl()]);
  }

  private targetMrdsl(): string {
    const n = Number(this.ours['MaxRecvDataSegmentLength']);
    return String(Number.isInteger(n) && n >= 512 && n <= 16777215 ? n : 262144);
  }

  /** §13.9: TargetPortalGroupTag in the first response of a Normal session; TargetAlias likewise. */
  private addDeclarations(answers: KeyPairs): void {
    const id = this.identity!;
    if (id.declared || id.sessionType !== 'Normal') return;
    id.declared = true;
    if (id.target?.alias) answers.push(['TargetAlias', id.target.alias]);
    answers.push(['TargetPortalGroupTag', String(this.env.tpgt)]);
  }

  private transition(pdu: LoginRequest, answers: KeyPairs): LoginAction {
    const canLeave = this.stage !== Stage.SECURITY || this.auth.kind === 'done' || (this.auth.kind === 'start' && !authRequired(this.authAccounts()));
    if (!pdu.transit || !canLeave) {
      if (pdu.transit && this.auth.kind === 'start') return this.fail(pdu, LoginStatus.AUTHENTICATION_FAILURE, 'authentication required', undefined, 'protocol');
      return { type: 'send', pdu: this.response(pdu, { transit: false, nsg: 0, data: encodeText(answers) }) };
    }
    if (pdu.nsg !== Stage.FULL_FEATURE) {
      const resp = this.response(pdu, { transit: true, nsg: pdu.nsg, data: encodeText(answers) });
      this.stage = pdu.nsg;
      return { type: 'send', pdu: resp };
    }
    if (!this.declaredMrdsl) this.declareMrdsl(answers);
    return this.complete(pdu, answers);
  }

  private complete(pdu: LoginRequest, answers: KeyPairs): LoginAction {
    const id = this.identity!;
    const missing = this.missingRequiredDigest();
    if (missing) return this.fail(pdu, LoginStatus.INITIATOR_ERROR, `${missing}=CRC32C required`);
    const tsih = id.addToSession ? this.tsih : this.env.directory.allocateSid();
    const resp = this.response(pdu, { transit: true, nsg: Stage.FULL_FEATURE, data: encodeText(answers), tsih });
    this.phase = 'done';
    const result: LoginResult = {
      sessionType: id.sessionType,
      initiatorName: id.initiatorName,
      isid: this.isid,
      tsih,
      cid: this.cid,
      params: toParams(this.results, Number(this.targetMrdsl())),
      expCmdSN: this.cmdSN,
      statSN: this.statSN,
      addToSession: id.addToSession,
    };
    if (id.target) result.target = id.target;
    if (id.initiatorAlias !== undefined) result.initiatorAlias = id.initiatorAlias;
    if (id.reinstate !== undefined) result.reinstate = id.reinstate;
    if (this.auth.kind === 'done' && this.auth.user !== undefined) result.authUser = this.auth.user;
    if (id.redirectIgnored !== undefined) result.redirectIgnored = id.redirectIgnored;
    return { type: 'complete', pdu: resp, result };
  }

  private response(
    pdu: LoginRequest,
    o: { transit: boolean; nsg: number; data?: Buffer; status?: number; tsih?: number },
  ): Draft<LoginResponse> {
    const status = o.status ?? 0;
    return {
      opcode: Op.LOGIN_RESP,
      transit: o.transit,
      cont: false,
      csg: status ? 0 : this.stage,
      nsg: o.transit ? o.nsg : 0,
      versionMax: 0,
      versionActive: 0,
      isid: this.isid || pdu.isid,
      tsih: o.tsih ?? (status ? 0 : this.tsih),
      itt: pdu.itt,
      statSN: this.statSN++ >>> 0,
      expCmdSN: this.cmdSN,
      maxCmdSN: (this.cmdSN + CMD_WINDOW - 1) >>> 0,
      statusClass: status >> 8,
      statusDetail: status & 0xff,
      data: o.data ?? Buffer.alloc(0),
    };
  }

  /**
   * A digest the target requires (its list for the key has no `None`, e.g.
   * `HeaderDigest: CRC32C`) that the login did not settle on CRC32C: the
   * initiator offered only None (our answer was Reject) or never offered it.
   * A list with None in it (`CRC32C,None`) only offers digests.
   */
  private missingRequiredDigest(): string | undefined {
    // Digests are negotiated per connection (RFC 7143 §13.1), so every connection is checked.
    for (const key of ['HeaderDigest', 'DataDigest']) {
      const ours = (this.ours[key] ?? 'None').split(',').map((v) => v.trim());
      if (!ours.includes('None') && this.results.get(key) !== 'CRC32C') return key;
    }
    return undefined;
  }

  private fail(pdu: LoginRequest, status: number, reason: string, data?: Buffer, auth?: AuthFailureKind): LoginAction {
    this.phase = 'done';
    const action: LoginAction = { type: 'fail', pdu: this.response(pdu, { transit: false, nsg: 0, status, data }), status, reason };
    if (auth) action.auth = auth;
    return action;
  }
}

const IDENTITY_KEYS = new Set(['InitiatorName', 'InitiatorAlias', 'TargetName', 'SessionType']);
