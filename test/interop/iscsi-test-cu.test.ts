/**
 * libiscsi's conformance suite against the in-process target (design.md §5:
 * blockgate must fail none). Runs the whole suite once plain and the iSCSI
 * family once more against a target that insists on CRC32C header digests
 * (libiscsi does not offer data digests).
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startIscsiStandalone, type Standalone } from '../helpers/iscsi-standalone.js';

const INITIATOR = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test';
const INITIATOR2 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2';

function testCu(testSpec: string, url: string, timeoutMs: number): Promise<{ out: string; tests: number[] }> {
  return new Promise((resolve) => {
    execFile('iscsi-test-cu', [`--test=${testSpec}`, '--dataloss', '-i', INITIATOR, '-I', INITIATOR2, url], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (_err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      const m = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(out);
      resolve({ out, tests: m ? m.slice(1).map(Number) : [] });
    });
  });
}

let server: Standalone;
beforeAll(async () => {
  server = await startIscsiStandalone();
});
afterAll(async () => {
  await server.close();
});

describe('iscsi-test-cu', () => {
  test('--test=ALL --dataloss: no failures', async () => {
    const r = await testCu('ALL', server.url(1), 840_000);
    const [total, ran, passed, failed] = r.tests;
    const failures = r.out.split('\n').filter((l) => l.includes('FAILED')).slice(0, 20).join('\n');
    expect(total, r.out.slice(-2000)).toBeGreaterThan(200);
    expect(ran).toBe(total);
    expect(failed, failures).toBe(0);
    expect(passed).toBe(total);
  }, 900_000);

  test('iSCSI family with CRC32C header digests', async () => {
    const digestServer = await startIscsiStandalone({ params: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C,None' } });
    const r = await testCu('iSCSI', digestServer.url(1), 240_000);
    expect(digestServer.logins.length).toBeGreaterThan(0);
    expect(digestServer.logins.every((l) => l.params.headerDigest)).toBe(true);
    await digestServer.close();
    const [total, , passed, failed] = r.tests;
    expect(total, r.out.slice(-2000)).toBeGreaterThan(5);
    expect(failed).toBe(0);
    expect(passed).toBe(total);
  }, 300_000);
});
