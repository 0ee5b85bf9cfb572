/**
 * #12 item 1 with a real kernel client: Debian's nbd-client in the
 * vm-initiator VM connects, mounts, writes, verifies and fscks a
 * filesystem on the export, then disconnects. Afterwards the daemon holds
 * nothing for it: descriptors, the session and connection gauges and the
 * `show` nexus are back where they started, and the one "nbd session
 * closed" line says why.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { eventually, holdings } from '../helpers/daemon-resources.js';

const RUN_SH = path.join(ROOT, '..', 'shared', 'vm-initiator', 'run.sh');

let d: DaemonHandle | undefined;

afterAll(async () => {
  await d?.stop();
});

describe('a real Linux kernel NBD client', () => {
  it('uses the export and, once it disconnects, leaves nothing held in the daemon', async () => {
    d = await startDaemon({ iscsi: false });
    // Warm up the target loop once (its first connection opens what every later one shares), then take the baseline.
    const warm = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${d.nbdPort}/default`], { timeoutMs: 30_000 });
    expect(warm.code, warm.stderr).toBe(0);
    await eventually(async () => (await holdings(d!, ['nbd'])).sessions === 0, 1500);
    const start = await holdings(d, ['nbd']);
    expect(start.sessions).toBe(0);
    const vm = await run('bash', [RUN_SH, '--nbd', String(d.nbdPort), '--export', 'default', '--timeout', '300'], { timeoutMs: 420_000 });
    expect(vm.code, vm.stdout.slice(-4000) + vm.stderr.slice(-2000)).toBe(0);
    expect(vm.stdout).toContain('VM-INITIATOR PASS');
    expect(d.logs.filter((l) => l.includes('"nbd session opened"')).length).toBeGreaterThan(0);
    let now = start;
    const back = await eventually(async () => {
      now = await holdings(d!, ['nbd']);
      return now.fds <= start.fds && now.sessions === 0 && now.connections === 0 && now.nexuses === 0;
    }, 1500);
    expect(back, `start ${JSON.stringify(start)}, now ${JSON.stringify(now)}`).toBe(true);
    const opened = d.logs.filter((l) => l.includes('"nbd session opened"')).length;
    const closed = d.logs.filter((l) => l.includes('"nbd session closed"'));
    expect(closed.length).toBe(opened);
  }, 480_000);
});
