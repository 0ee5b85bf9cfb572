/**
 * Text-key data segments (RFC 7143 §6.1): `key=value` pairs, each ended by a
 * NUL byte. Decoding is tolerant (a missing final NUL, empty records); pairs
 * keep their order because negotiation answers in the order offered.
 */

export type KeyPairs = [key: string, value: string][];

/** A record without '=' is returned with value `undefined` (a format error the caller rejects). */
export function decodeText(data: Buffer): { pairs: KeyPairs; malformed: string[] } {
  const pairs: KeyPairs = [];
  const malformed: string[] = [];
  for (const rec of data.toString('utf8').split('\0')) {
    if (rec.length === 0) continue;
    const eq = rec.indexOf('=');
    if (eq <= 0) malformed.push(rec);
    else pairs.push([rec.slice(0, eq), rec.slice(eq + 1)]);
  }
  return { pairs, malformed };
}

export function encodeText(pairs: KeyPairs): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/**
 * Split a text answer into segments of at most `max` bytes for C-bit
 * continuation (§11.10.2). Splits may fall inside a pair, as the RFC allows.
 */
export function splitSegments(data: Buffer, max: number): Buffer[] {
  if (data.length <= max) return [data];
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += max) out.push(data.subarray(at, Math.min(data.length, at + max)));
  return out;
}
