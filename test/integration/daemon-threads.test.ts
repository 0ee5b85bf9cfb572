/**
 * One event loop per target: each target's I/O runs on its own named thread,
 * and a saturated target stalls neither another target's logins nor the
 * admin socket.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { T1, T2, threadCpuTicks, writeThreeTargetConfig } from '../helpers/three-targets.js';

let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-threads-');
  daemon = await startDaemon({ dataDir: dir, args: ['--config', writeThreeTargetConfig(dir)] });
});
afterAll(async () => {
  await daemon?.stop();
});

/** fio against one NBD export for a bounded time. */
function saturate(exportName: string, seconds: number): ReturnType<typeof run> {
  return run('fio', [
    '--name=load', '--ioengine=nbd', `--uri=nbd://127.0.0.1:${daemon.nbdPort}/${exportName}`,
    '--rw=randwrite', '--bs=4k', '--iodepth=32', '--size=64m', '--time_based', `--runtime=${seconds}`, '--numjobs=1',
  ], { timeoutMs: (seconds + 30) * 1000 });
}

describe('per-target event loops', () => {
  it('names one thread per target, tgt/<tid>', () => {
    const names = fs.readdirSync(`/proc/${daemon.proc.pid}/task`).map((t) =>
      fs.readFileSync(`/proc/${daemon.proc.pid}/task/${t}/comm`, 'utf8').trim(),
    );
    for (const n of ['tgt/1', 'tgt/2', 'tgt/3']) expect(names).toContain(n);
  });

  it("runs a target's I/O on its own thread, and a saturated target stalls neither logins nor the admin socket", async () => {
    const pid = daemon.proc.pid!;
    const before = threadCpuTicks(pid);
    const load = saturate('t1', 8);
    await new Promise((r) => setTimeout(r, 2000)); // let the load ramp up
    // The admin socket answers while target 1 is saturated.
    const t0 = process.hrtime.bigint();
    const show = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    const showMs = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(T2);
    // A login to target 2 (and a command on it) completes meanwhile.
    const t1 = process.hrtime.bigint();
    const inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${T2}/1`], { timeoutMs: 20_000 });
    const loginMs = Number(process.hrtime.bigint() - t1) / 1e6;
    expect(inq.code, inq.stderr).toBe(0);
    const fio = await load;
    expect(fio.code, fio.stderr).toBe(0);
    expect(fio.stdout).toMatch(/err= 0/);
    // A stall would show up as seconds; the bound is generous for a shared 2-core machine.
    expect(showMs).toBeLessThan(5000);
    expect(loginMs).toBeLessThan(5000);
    const after = threadCpuTicks(pid);
    const used = (n: string): number => (after.get(n) ?? 0) - (before.get(n) ?? 0);
    // The loaded target's thread did the work; the idle targets' threads did not.
    expect(used('tgt/1')).toBeGreaterThan(50);
    expect(used('tgt/1')).toBeGreaterThan(10 * Math.max(1, used('tgt/3')));
  });
});
