/** docs/errors.md and src/mgmt/errors.ts must describe the same errors. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeForTgtadmErrno, MGMT_ERRORS, mgmtError } from '../../../src/mgmt/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

function docRows(): Map<string, { message: string; errno: string; exit: number }> {
  const rows = new Map<string, { message: string; errno: string; exit: number }>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(BG_ERR_[A-Z_]+)` \| (.+?) \| (.+?) \| (\d+) \|$/.exec(line);
    if (m) rows.set(m[1]!, { message: m[2]!, errno: m[3]!, exit: Number(m[4]) });
  }
  return rows;
}

describe('errors table ↔ docs/errors.md', () => {
  const rows = docRows();
  it('documents exactly the codes in the table', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(MGMT_ERRORS).sort());
  });
  for (const [code, info] of Object.entries(MGMT_ERRORS)) {
    it(`${code}: same message, tgtadm_errno and exit status`, () => {
      const row = rows.get(code);
      expect(row).toBeDefined();
      expect(row!.message).toBe(info.message);
      expect(row!.exit).toBe(info.exitStatus);
      expect(row!.errno).toBe(info.tgtadmErrno === null ? '-' : `${info.tgtadmErrno} (\`${info.tgtName}\`)`);
    });
  }
  it('covers every tgtadm_errno 1..24 exactly once', () => {
    const errnos = Object.values(MGMT_ERRORS).map((e) => e.tgtadmErrno).filter((e) => e !== null);
    expect(errnos).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(codeForTgtadmErrno(19)).toBe('BG_ERR_TARGET_ACTIVE');
    expect(mgmtError('BG_ERR_TARGET_ACTIVE').message).toBe('this target is still active');
  });
});
