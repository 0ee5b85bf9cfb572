/**
 * Deleting a target or a LUN while I/O is in flight: refused without
 * --force (as tgtadm does), clean with it, and other targets unaffected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { T1, T2, writeThreeTargetConfig } from '../helpers/three-targets.js';

let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-delete-');
  daemon = await startDaemon({ dataDir: dir, args: ['--config', writeThreeTargetConfig(dir, 64 * 1024 * 1024)] });
});
afterAll(async () => {
  await daemon?.stop();
});

function fioLoad(uri: string, seconds: number, extra: string[] = []): ReturnType<typeof run> {
  return run('fio', [
    '--name=load', '--ioengine=nbd', `--uri=${uri}`, '--rw=randrw', '--bs=4k', '--iodepth=16',
    '--size=32m', '--time_based', `--runtime=${seconds}`, ...extra,
  ], { timeoutMs: (seconds + 30) * 1000 });
}

/** A verifying workload on another target that must finish without a single error. */
function verifiedWorkload(exportName: string): ReturnType<typeof run> {
  return run('fio', [
    '--name=verify', '--ioengine=nbd', `--uri=nbd://127.0.0.1:${daemon.nbdPort}/${exportName}`, '--rw=randwrite',
    '--bs=4k', '--iodepth=8', '--size=16m', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0',
  ], { timeoutMs: 120_000 });
}

async function sessions(tid: number): Promise<number> {
  const r = await bgadm(daemon, ['--lld', tid === 3 ? 'nbd' : 'iscsi', '--op', 'show', '--mode', 'target']);
  const block = r.stdout.split(/^Target /m).find((b) => b.startsWith(`${tid}:`)) ?? '';
  return (block.match(/I_T nexus: /g) ?? []).length;
}

async function waitForSession(tid: number): Promise<void> {
  for (let i = 0; i < 100 && (await sessions(tid)) === 0; i++) await new Promise((r) => setTimeout(r, 100));
}

describe('delete with I/O in flight', () => {
  it('refuses to delete a LUN with sessions, then removes it with --force while the client is busy', async () => {
    const load = fioLoad(`nbd://127.0.0.1:${daemon.nbdPort}/scratch3`, 20);
    await waitForSession(3);
    const refused = await bgadm(daemon, ['--lld', 'nbd', '--op', 'delete', '--mode', 'logicalunit', '--tid', '3', '--lun', '1']);
    expect(refused.code).toBe(22);
    expect(refused.stderr).toContain('this logical unit is still active');
    const other = verifiedWorkload('t2');
    const forced = await bgadm(daemon, ['--lld', 'nbd', '--op', 'delete', '--mode', 'logicalunit', '--tid', '3', '--lun', '1', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    const fio = await load;
    expect(fio.code).not.toBe(0); // the busy client lost its LUN: an error, not a hang
    const v = await other;
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/err= 0/);
    const show = await bgadm(daemon, ['--lld', 'nbd', '--op', 'show', '--mode', 'target']);
    expect(show.stdout).toContain('Target 3: scratch3');
    expect(show.stdout).not.toMatch(/LUN: 1/);
  });

  it('refuses to delete an active target, then deletes it with --force; the other target keeps working', async () => {
    const load = fioLoad(`nbd://127.0.0.1:${daemon.nbdPort}/t1`, 20);
    await waitForSession(1);
    const refused = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', '1']);
    expect(refused.code).toBe(22);
    expect(refused.stderr).toContain('this target is still active');
    const other = verifiedWorkload('t2');
    const forced = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', '1', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    await load;
    const v = await other;
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const show = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    expect(show.stdout).not.toContain(T1);
    expect(show.stdout).toContain(T2);
    // The daemon is alive and still serves target 2 over iSCSI.
    const inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${T2}/1`]);
    expect(inq.code, inq.stderr).toBe(0);
    expect(daemon.proc.exitCode).toBeNull();
  });
});
