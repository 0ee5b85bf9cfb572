/**
 * #12 item 5, config side: a LUN's uuid loads, validates (format, unique),
 * round-trips through save and through the admin requests; naaCompanyId
 * validates; targets.conf LUNs adopt saved ids.
 */
import { describe, expect, it } from 'vitest';
import { parseLunParams, parseNaaCompanyId } from '../../../src/config/lun-params.js';
import { parseConfigYaml } from '../../../src/config/load.js';
import { adoptSavedIdentities } from '../../../src/config/saved-identities.js';
import { stringifyConfig } from '../../../src/config/save.js';
import type { DaemonConfig } from '../../../src/config/schema.js';
import { configToRequests } from '../../../src/config/to-requests.js';
import { formatIssue } from '../../../src/config/validate.js';
import { newIdentityId, parseIdentityId } from '../../../src/util/identity-id.js';

const ID1 = '0123456789abcdef0123456789abcdef';
const ID2 = 'fedcba9876543210fedcba9876543210';

function load(text: string) {
  return parseConfigYaml(text, 't.yaml');
}

const lunsYaml = (a: string, b: string, extra = '') =>
  `${extra}targets:\n  - name: iqn.a\n    luns:\n      - { lun: 1, backingStore: /x, uuid: "${a}" }\n      - { lun: 2, backingStore: /y, uuid: "${b}" }\n`;

describe('LUN uuid in the config', () => {
  it('loads, saves and becomes a uuid= request parameter', () => {
    const r = load(lunsYaml(ID1, ID2));
    expect(r.ok).toBe(true);
    const c = (r as { config: DaemonConfig }).config;
    expect(c.targets[0]!.luns.map((l) => l.uuid)).toEqual([ID1, ID2]);
    const again = load(stringifyConfig(c));
    expect(again.ok && again.config).toEqual(c);
    const reqs = configToRequests(c).filter((q) => q.mode === 'logicalunit');
    expect(reqs.map((q) => q.params?.uuid)).toEqual([ID1, ID2]);
  });

  it('refuses two LUNs with one uuid, in the same target or not, and malformed ones', () => {
    const dup = load(lunsYaml(ID1, ID1.toUpperCase()));
    expect(dup.ok).toBe(false);
    expect(dup.ok ? [] : dup.errors.map(formatIssue)).toEqual([expect.stringMatching(/t\.yaml:5: .*duplicate LUN uuid 0123456789abcdef0123456789abcdef/)]);
    const bad = load(lunsYaml(ID1, 'xyz'));
    expect(bad.ok ? [] : bad.errors.map(formatIssue)).toEqual([expect.stringMatching(/t\.yaml:5: .*uuid must be 32 hex digits/)]);
    expect(load(lunsYaml(ID1, '0'.repeat(32))).ok).toBe(false);
  });

  it('naaCompanyId is 6 hex digits', () => {
    expect(load(lunsYaml(ID1, ID2, 'naaCompanyId: "00-14-05"\n')).ok).toBe(true);
    const bad = load(lunsYaml(ID1, ID2, 'naaCompanyId: "12345"\n'));
    expect(bad.ok ? [] : bad.errors.map(formatIssue)).toEqual([expect.stringMatching(/t\.yaml:1: naaCompanyId must be a 24-bit IEEE company id/)]);
    expect(parseNaaCompanyId('0x001405')).toBe(0x001405);
    expect(parseNaaCompanyId('ACDE48')).toBe(0xacde48);
  });

  it('uuid parameter: 32 hex digits or the 8-4-4-4-12 layout, canonicalised', () => {
    expect(parseLunParams({ uuid: '01234567-89AB-CDEF-0123-456789ABCDEF' })).toEqual({ uuid: ID1 });
    expect(parseLunParams({ uuid: 'nope' })).toMatchObject({ invalid: 'uuid', reason: expect.stringMatching(/32 hex digits/) });
    expect(parseIdentityId(`0x${ID2}`)).toBe(ID2);
  });

  it('generated ids are 128 random bits', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newIdentityId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(parseIdentityId(id)).toBe(id);
  });

  it('a targets.conf LUN takes the id saved for the same target, LUN and backing store only', () => {
    const conf = (load(lunsYaml(ID1, ID2)) as { config: DaemonConfig }).config;
    const fromConf: DaemonConfig = structuredClone(conf);
    for (const l of fromConf.targets[0]!.luns) delete l.uuid;
    fromConf.targets[0]!.luns[1]!.backingStore = '/elsewhere';
    const adopted = adoptSavedIdentities(fromConf, conf);
    expect(adopted.targets[0]!.luns.map((l) => l.uuid)).toEqual([ID1, undefined]);
  });
});
