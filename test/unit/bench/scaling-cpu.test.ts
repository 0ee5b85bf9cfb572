import { describe, expect, it } from 'vitest';
import { run } from '../../../bench/proc.js';
import { scalingCeiling } from '../../../bench/scaling.js';

describe('bench CPU accounting for the per-target scaling runs', () => {
  it('run(withCpu) reports the client CPU and leaves its output and exit code as they were', async () => {
    const busy = 'x=0; for i in $(seq 300000); do x=$((x+1)); done; echo out; echo err >&2';
    const r = await run('bash', ['-c', busy], 60_000, true);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.cpuSeconds).toBeGreaterThan(0.05); // 300k shell iterations are not free
    expect(r.cpuSeconds).toBeLessThanOrEqual(r.wallSeconds * 2 + 0.05); // a single-threaded client on this host
    await expect(run('bash', ['-c', 'exit 3'], 60_000, true)).rejects.toThrow(/failed \(3\)/);
  });

  it('without withCpu no CPU figure is invented', async () => {
    const r = await run('true', []);
    expect(r.cpuSeconds).toBeUndefined();
  });

  it('the ceiling is the two-core bound when clients share the cores, the per-target one when cores are plenty', () => {
    const perTarget = { daemonUsPerRequest: 17.9, clientUsPerRequest: 7.3, coresBusy: 2 };
    const singleLoop = { daemonUsPerRequest: 16.3, clientUsPerRequest: 9.3, coresBusy: 1.6 };
    // 2 cores: 2 / (17.9 + 7.3) requests per µs against 1 / 16.3.
    expect(scalingCeiling(perTarget, singleLoop, 2)).toBeCloseTo((2 / 25.2) * 16.3, 6);
    // 64 cores: each of the three loops is capped at one core.
    expect(scalingCeiling(perTarget, singleLoop, 64)).toBeCloseTo((3 / 17.9) * 16.3, 6);
    // A client as costly as the daemon pins the gain near 1 on two cores.
    expect(scalingCeiling({ ...perTarget, clientUsPerRequest: 17.9 }, { ...singleLoop, daemonUsPerRequest: 17.9 }, 2)).toBeCloseTo(1, 6);
  });
});
