/**
 * CHAP for iSCSI (RFC 7143 §12.1.3, RFC 1994): pure helpers. The challenge
 * bytes are an input (the shell draws them from crypto.randomBytes), so
 * transcripts are reproducible in tests.
 *
 * Algorithm numbers are the IANA "PPP Authentication Algorithms" values:
 * 5 = MD5 (mandatory), 6 = SHA-1, 7 = SHA-256, 8 = SHA3-256.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface ChapAlgorithm {
  id: number;
  hash: string;
  /** Digest (and our challenge) length in bytes. */
  bytes: number;
}

export const CHAP_ALGORITHMS: Readonly<Record<number, ChapAlgorithm>> = {
  5: { id: 5, hash: 'md5', bytes: 16 },
  6: { id: 6, hash: 'sha1', bytes: 20 },
  7: { id: 7, hash: 'sha256', bytes: 32 },
  8: { id: 8, hash: 'sha3-256', bytes: 32 },
};

/** Algorithms a target allows unless its `CHAP_A` parameter narrows the list. */
export const DEFAULT_CHAP_ALGORITHMS = '5,6,7,8';

function algorithmNumbers(list: string): number[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^[0-9]{1,3}$/.test(s))
    .map(Number);
}

/**
 * RFC 7143 §6.2.1 / §12.1.3: the first algorithm in the initiator's CHAP_A
 * list that the target allows (`allowed`, a comma list, e.g. the target's
 * `CHAP_A` parameter) and implements. Tolerant of spaces and junk entries.
 */
export function chooseChapAlgorithm(list: string, allowed: string = DEFAULT_CHAP_ALGORITHMS): ChapAlgorithm | undefined {
  const ours = new Set(algorithmNumbers(allowed));
  const id = algorithmNumbers(list).find((a) => ours.has(a) && CHAP_ALGORITHMS[a] !== undefined);
  return id === undefined ? undefined : CHAP_ALGORITHMS[id];
}

/** CHAP response = H(identifier byte || secret || challenge) (RFC 1994 §4.1). */
export function chapResponse(alg: ChapAlgorithm, id: number, secret: string, challenge: Buffer): Buffer {
  return createHash(alg.hash)
    .update(Buffer.from([id & 0xff]))
    .update(Buffer.from(secret, 'utf8'))
    .update(challenge)
    .digest();
}

export function chapVerify(alg: ChapAlgorithm, id: number, secret: string, challenge: Buffer, response: Buffer): boolean {
  const expected = chapResponse(alg, id, secret, challenge);
  return response.length === expected.length && timingSafeEqual(response, expected);
}

/** Binary values are hex (`0x`) or base64 (`0b`), RFC 7143 §6.1. */
export function decodeChapBinary(value: string): Buffer | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) {
    const hex = value.slice(2);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  }
  if (/^0[bB][A-Za-z0-9+/=]+$/.test(value)) return Buffer.from(value.slice(2), 'base64');
  return undefined;
}

export function encodeChapBinary(b: Buffer): string {
  return `0x${b.toString('hex')}`;
}
