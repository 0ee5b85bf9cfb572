/**
 * #12 item 15 through the real daemon: bgadm refuses a redirect to the
 * daemon's own portal; a redirect elsewhere is accepted and answered.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bgadm, run, startDaemon, type DaemonHandle } from '../helpers/daemon.js';

const TARGET = 'iqn.2026-12.io.blockgate:redirected';
let daemon: DaemonHandle;

beforeAll(async () => {
  daemon = await startDaemon({ nbd: false });
  const made = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '9', '-T', TARGET]);
  expect(made.code, made.stderr).toBe(0);
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

const update = (name: string, value: string) => bgadm(daemon, ['--lld', 'iscsi', '--op', 'update', '--mode', 'target', '--tid', '9', '--name', name, '--value', value]);

describe('redirect loops are refused (#12 item 15)', () => {
  test("bgadm update: a redirect to the daemon's own portal is refused, either key last", async () => {
    expect((await update('RedirectAddress', '127.0.0.1')).code).toBe(0); // port 3260: not ours (ours is ephemeral)
    const loop = await update('RedirectPort', String(daemon.iscsiPort));
    expect(loop.code).toBe(22);
    expect(loop.stderr).toMatch(/^bgadm: invalid request: redirect to .*(it would loop)/); // tgtadm's text, then the reason
    expect((await update('RedirectPort', '3999')).code).toBe(0);
    expect((await update('RedirectAddress', 'localhost')).code).toBe(0); // 3999 is not ours
    expect((await update('RedirectAddress', '10.0.0.1')).code).toBe(0);
  });

  test('a redirect elsewhere is answered with the new address (libiscsi follows it, and fails to connect there)', async () => {
    expect((await update('RedirectAddress', '127.0.0.1')).code).toBe(0);
    expect((await update('RedirectPort', '1')).code).toBe(0);
    const r = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${TARGET}/1`], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    expect(daemon.logs.some((l) => l.includes('target redirected'))).toBe(true);
    expect(daemon.logs.some((l) => l.includes('redirect to this daemon ignored'))).toBe(false);
  });
});
