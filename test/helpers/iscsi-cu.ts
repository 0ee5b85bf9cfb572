/**
 * Runs libiscsi's conformance suite `iscsi-test-cu` (Debian libiscsi-bin)
 * and parses its CUnit output: totals, which tests ran, which printed
 * `[SKIPPED]`, which failed. Used by the interop tests that judge LUNs
 * with it (docs/iscsi-conformance.md).
 */
import { run } from './daemon.js';

/** The initiator names libiscsi's own test scripts use (-i / -I). */
export const CU_I1 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test';
export const CU_I2 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2';

export interface CuRun {
  total: number;
  passed: number;
  /** -1 when no CUnit summary was printed (crash, timeout). */
  failed: number;
  skippedLines: number;
  /** Suite.Test names that printed [SKIPPED]. */
  skipped: Set<string>;
  /** Suite.Test names that ran. */
  ran: Set<string>;
  failures: string[];
  out: string;
}

export function parseCu(out: string): CuRun {
  const m = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(out);
  const [total, , passed, failed] = m ? m.slice(1).map(Number) : [0, 0, 0, -1];
  const skipped = new Set<string>();
  const ran = new Set<string>();
  const failures: string[] = [];
  let suite = '';
  let current = '';
  let skippedLines = 0;
  for (const line of out.split('\n')) {
    const s = /^Suite: (\S+)/.exec(line);
    if (s) suite = s[1]!;
    const t = /^\s+Test: (\S+) \.\.\./.exec(line);
    if (t) ran.add((current = `${suite}.${t[1]}`));
    if (line.includes('[SKIPPED]')) {
      skippedLines++;
      skipped.add(current);
    }
    if (/\.\.\.FAILED|^FAILED/.test(line)) failures.push(current);
  }
  return { total: total!, passed: passed!, failed: failed!, skippedLines, skipped, ran, failures, out };
}

/** `iscsi-test-cu --test=<spec> --dataloss [extra] -i I1 -I I2 <urls>`, stdout and stderr in one pipe. */
export async function runCu(spec: string, urls: string[], extra: string[] = [], timeoutMs = 150_000): Promise<CuRun> {
  // One pipe for stdout and stderr keeps [SKIPPED] lines next to their test.
  const args = [`--test=${spec}`, '--dataloss', ...extra, '-i', CU_I1, '-I', CU_I2, ...urls].map((a) => `'${a}'`).join(' ');
  const r = await run('sh', ['-c', `iscsi-test-cu ${args} 2>&1`], { timeoutMs });
  return parseCu(r.stdout);
}
