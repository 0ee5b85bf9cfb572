/**
 * SIGTERM is a clean shutdown: with three targets (one with a logged-in
 * iSCSI session) the daemon exits 0 and logs no warning or error, in the
 * worker-per-target mode (each target thread ends with exit code 0, not
 * "target worker exited" code 1) and in --single-loop mode.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bgadm, startDaemon, tempDir } from '../helpers/daemon.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';

function levelOf(line: string): number | undefined {
  try {
    return (JSON.parse(line) as { level?: number }).level;
  } catch {
    return undefined; // the "blockgate is serving" banner
  }
}

for (const mode of ['worker per target', '--single-loop'] as const) {
  describe(`SIGTERM (${mode})`, () => {
    it('exits 0 with no warning or error logged', async () => {
      const dataDir = tempDir('bg-shutdown-');
      const d = await startDaemon({ dataDir, args: ['--log-level', 'debug', ...(mode === '--single-loop' ? ['--single-loop'] : [])] });
      let ini: RawInitiator | undefined;
      try {
        for (const [tid, lld, name] of [[2, 'iscsi', 'iqn.2026-12.test:two'], [3, 'nbd', 'three']] as const) {
          expect((await bgadm(d, ['--lld', lld, '--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', name])).code).toBe(0);
          const r = await bgadm(d, ['--lld', lld, '--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', '1', '-b', path.join(dataDir, `${tid}.img`), '--params', 'size=8M']);
          expect(r.code, r.stderr).toBe(0);
        }
        ini = await RawInitiator.connect(d.iscsiPort!);
        expect(await ini.login({ initiatorName: 'iqn.2026-12.test:shutdown', targetName: 'iqn.2026-11.io.blockgate:default' })).toBe(0);
        expect((await ini.command(Cdb.testUnitReady(), { lun: 1 }).done).status).toBeGreaterThanOrEqual(0);
      } catch (e) {
        await d.stop('SIGKILL');
        throw e;
      }
      const code = await d.stop('SIGTERM');
      ini.close();
      expect(code).toBe(0);
      const loud = d.logs.filter((l) => (levelOf(l) ?? 0) >= 40);
      expect(loud).toEqual([]);
      // The shutdown really went through every target.
      expect(d.logs.some((l) => l.includes('"shutting down"'))).toBe(true);
      if (mode === 'worker per target') expect(d.logs.filter((l) => l.includes('"target worker stopped"') && l.includes('"code":0')).length).toBe(3);
    });
  });
}
