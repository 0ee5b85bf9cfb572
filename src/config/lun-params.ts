/**
 * LUN attributes as `--params k=v` names (tgt's names where tgt has one:
 * vendor_id, product_id, product_rev, scsi_id, scsi_sn, removable, readonly,
 * thin_provisioning; blockgate's own otherwise). One table used both ways:
 * configToRequests encodes a LunConfig into params for
 * `--mode logicalunit --op new|update`, and the registry decodes them with
 * `parseLunParams`.
 */
import { parseIdentityId } from '../util/identity-id.js';
import { parseSize } from './size.js';
import type { LunConfig } from './schema.js';

type LunAttr = 'sizeBytes' | 'readOnly' | 'removable' | 'vendorId' | 'productId' | 'productRev' | 'uuid' | 'serial'
  | 'scsiId' | 'writeCache' | 'thinProvisioning' | 'nbdExport';

interface ParamRow {
  key: LunAttr;
  kind: 'string' | 'bool' | 'size' | 'identity';
}

/** Param name → LunConfig key. Order = encoding order. */
export const LUN_PARAMS: Record<string, ParamRow> = {
  size: { key: 'sizeBytes', kind: 'size' },
  vendor_id: { key: 'vendorId', kind: 'string' },
  product_id: { key: 'productId', kind: 'string' },
  product_rev: { key: 'productRev', kind: 'string' },
  uuid: { key: 'uuid', kind: 'identity' },
  scsi_id: { key: 'scsiId', kind: 'string' },
  scsi_sn: { key: 'serial', kind: 'string' },
  removable: { key: 'removable', kind: 'bool' },
  readonly: { key: 'readOnly', kind: 'bool' },
  write_cache: { key: 'writeCache', kind: 'bool' },
  thin_provisioning: { key: 'thinProvisioning', kind: 'bool' },
  nbd_export: { key: 'nbdExport', kind: 'string' },
};

export type LunParamValues = Partial<Pick<LunConfig, LunAttr>>;

/** Encode the attributes present in `lun` (absent ones are left to defaults). */
export function lunConfigToParams(lun: LunConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, row] of Object.entries(LUN_PARAMS)) {
    const v = lun[row.key];
    if (v === undefined) continue;
    out[name] = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  }
  return out;
}

/**
 * Decode `--params`. Unknown names → `{ unknown: name }` (the registry answers
 * BG_ERR_UNKNOWN_PARAM / tgt answers "invalid request"); bad values →
 * `{ invalid: name, reason }`. Booleans accept 1/0, yes/no, on/off, true/false;
 * sizes take units (src/config/size.ts).
 */
export function parseLunParams(params: Record<string, string>): LunParamValues | { unknown: string } | { invalid: string; reason: string } {
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(params)) {
    const row = LUN_PARAMS[name];
    if (row === undefined) return { unknown: name };
    const v = decodeValue(row.kind, text);
    if (typeof v === 'object') return { invalid: name, reason: v.reason };
    out[row.key] = v;
  }
  return out as LunParamValues;
}

function decodeValue(kind: ParamRow['kind'], text: string): string | boolean | number | { reason: string } {
  switch (kind) {
    case 'string':
      return text;
    case 'identity':
      return parseIdentityId(text) ?? { reason: `${JSON.stringify(text)} is not a 128-bit id (32 hex digits, not all zero)` };
    case 'bool':
      return parseBool(text) ?? { reason: `${JSON.stringify(text)} is not a boolean (1/0, yes/no, on/off, true/false)` };
    case 'size': {
      const n = parseSize(text);
      return typeof n === 'number' ? n : { reason: n };
    }
  }
}

export function parseBool(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 'yes', 'on', 'true'].includes(t)) return true;
  if (['0', 'no', 'off', 'false'].includes(t)) return false;
  return undefined;
}

/** `naaCompanyId`: a 24-bit IEEE company id (OUI) as 6 hex digits, with or without 0x or dashes (00-14-05). */
export function parseNaaCompanyId(text: string): number | undefined {
  const t = text.trim().toLowerCase().replace(/^0x/, '').replace(/[-:]/g, '');
  return /^[0-9a-f]{6}$/.test(t) ? parseInt(t, 16) : undefined;
}
