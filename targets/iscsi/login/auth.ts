/**
 * The security stage's authentication sub-machine (RFC 7143 §6.3.1, §12.1.3):
 * AuthMethod, then CHAP_A → (CHAP_A, CHAP_I, CHAP_C) → CHAP_N/CHAP_R
 * [+ CHAP_I/CHAP_C for mutual] → (CHAP_N, CHAP_R). Pure.
 */
import type { ChapAccount } from '../directory.js';
import type { KeyPairs } from '../text.js';
import { chapResponse, chapVerify, chooseChapAlgorithm, decodeChapBinary, encodeChapBinary, type ChapAlgorithm } from './chap.js';
import { negotiateKey } from './keys.js';

export type AuthState =
  | { kind: 'start' }
  | { kind: 'chap-wait-a' }
  | { kind: 'chap-wait-r'; alg: ChapAlgorithm; id: number; challenge: Buffer }
  | { kind: 'done'; user?: string };

export interface AuthContext {
  incoming: readonly ChapAccount[];
  outgoing?: ChapAccount;
  /** At least 1 + 32 fresh random bytes (identifier + challenge). */
  random: Buffer;
  /** CHAP algorithms the target allows (comma list; default 5,6,7,8). */
  chapAlgorithms?: string;
}

export interface AuthStep {
  state: AuthState;
  answers: KeyPairs;
  /** Authentication failed (status 0x0201); the reason is for the log only. */
  fail?: string;
}

export function isAuthKey(key: string): boolean {
  return key === 'AuthMethod' || key.startsWith('CHAP_');
}

export function authRequired(ctx: Pick<AuthContext, 'incoming'>): boolean {
  return ctx.incoming.length > 0;
}

/** Feed the security keys of one (complete) Login Request. */
export function stepAuth(state: AuthState, keys: ReadonlyMap<string, string>, ctx: AuthContext): AuthStep {
  const answers: KeyPairs = [];
  const method = keys.get('AuthMethod');
  if (method !== undefined && state.kind === 'start') {
    const out = negotiateKey('AuthMethod', method, authRequired(ctx) ? 'CHAP' : 'None');
    answers.push(['AuthMethod', out.answer ?? 'Reject']);
    if (!out.ok) return { state, answers, fail: 'no acceptable AuthMethod' };
    state = out.result === 'CHAP' ? { kind: 'chap-wait-a' } : { kind: 'done' };
  }
  const a = keys.get('CHAP_A');
  if (a !== undefined) {
    if (state.kind !== 'chap-wait-a') return { state, answers, fail: 'CHAP_A out of sequence' };
    const alg = chooseChapAlgorithm(a, ctx.chapAlgorithms);
    if (!alg) return { state, answers: [...answers, ['CHAP_A', 'Reject']], fail: 'no acceptable CHAP_A' };
    const id = ctx.random[0]!;
    const challenge = Buffer.from(ctx.random.subarray(1, 1 + alg.bytes));
    answers.push(['CHAP_A', String(alg.id)], ['CHAP_I', String(id)], ['CHAP_C', encodeChapBinary(challenge)]);
    return { state: { kind: 'chap-wait-r', alg, id, challenge }, answers };
  }
  if (keys.has('CHAP_N') || keys.has('CHAP_R')) {
    if (state.kind !== 'chap-wait-r') return { state, answers, fail: 'CHAP_R out of sequence' };
    return verifyResponse(state, keys, ctx, answers);
  }
  return { state, answers };
}

function verifyResponse(
  state: Extract<AuthState, { kind: 'chap-wait-r' }>,
  keys: ReadonlyMap<string, string>,
  ctx: AuthContext,
  answers: KeyPairs,
): AuthStep {
  const user = keys.get('CHAP_N');
  const resp = decodeChapBinary(keys.get('CHAP_R') ?? '');
  const account = ctx.incoming.find((acc) => acc.user === user);
  if (!account || !resp) return { state, answers, fail: 'unknown CHAP_N or bad CHAP_R' };
  if (!chapVerify(state.alg, state.id, account.secret, state.challenge, resp)) return { state, answers, fail: 'CHAP_R mismatch' };
  const mutualI = keys.get('CHAP_I');
  const mutualC = keys.get('CHAP_C');
  if (mutualI === undefined && mutualC === undefined) return { state: { kind: 'done', user: account.user }, answers };
  // Mutual CHAP (§12.1.3): the initiator challenges us with the outgoing account.
  const id = Number(mutualI);
  const challenge = decodeChapBinary(mutualC ?? '');
  if (!ctx.outgoing || !Number.isInteger(id) || id < 0 || id > 255 || !challenge) {
    return { state, answers, fail: 'mutual CHAP not possible' };
  }
  // Refuse a reflected challenge: our own challenge sent back to us (§12.1.3).
  if (challenge.equals(state.challenge) || challenge.length === 0 || challenge.length > 1024) {
    return { state, answers, fail: 'mutual CHAP challenge rejected' };
  }
  const r = chapResponse(state.alg, id, ctx.outgoing.secret, challenge);
  answers.push(['CHAP_N', ctx.outgoing.user], ['CHAP_R', encodeChapBinary(r)]);
  return { state: { kind: 'done', user: account.user }, answers };
}
