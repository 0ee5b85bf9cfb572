/**
 * The 128-bit random identity of a logical unit or a chunk volume, written
 * as 32 lowercase hex digits. Generated once (LUN creation, `volume
 * create`), stored with its owner, never derived from names or numbers, so
 * two different disks never report the same identity (docs/scsi.md,
 * "Device identity").
 */
import { randomBytes } from 'node:crypto';

export const IDENTITY_HEX_DIGITS = 32;

export function newIdentityId(): string {
  return randomBytes(IDENTITY_HEX_DIGITS / 2).toString('hex');
}

/**
 * Accept 32 hex digits, optionally in the 8-4-4-4-12 UUID layout or with a
 * 0x prefix, and return the canonical form; undefined when it is not one.
 * All-zero is refused: it is what an unset field looks like.
 */
export function parseIdentityId(text: string): string | undefined {
  const t = text.trim().toLowerCase().replace(/^0x/, '');
  const hex = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t) ? t.replace(/-/g, '') : t;
  if (!/^[0-9a-f]{32}$/.test(hex) || /^0+$/.test(hex)) return undefined;
  return hex;
}
