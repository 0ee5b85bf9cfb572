/**
 * #12 item 19: with no listen flags and no config, the embedded default (an
 * unauthenticated, writable 1 GiB LUN) listens on loopback only, and the
 * startup banner says so and names the flags; an explicit
 * `--iscsi-portal 0.0.0.0:PORT` still binds every interface.
 *
 * The daemon runs in its own network namespace (`unshare -n`, loopback up)
 * so it can take the standard ports 3260 and 10809 without meeting any
 * other test; clients and `ss` join that namespace with `nsenter`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

const NETNS = ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"'];

let daemon: DaemonHandle | undefined;

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

function inNetns(h: DaemonHandle, cmd: string, args: string[]): ReturnType<typeof run> {
  return run('nsenter', ['-t', String(h.proc.pid), '-n', '--', cmd, ...args], { timeoutMs: 20_000 });
}

/** "127.0.0.1:3260" for every listening TCP socket of the namespace. */
async function listening(h: DaemonHandle): Promise<string[]> {
  const ss = await inNetns(h, 'ss', ['-ltnH']);
  expect(ss.code, ss.stderr).toBe(0);
  return ss.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]!).sort();
}

async function banner(h: DaemonHandle): Promise<string> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !h.logs.some((l) => l.startsWith('Listening on') || l.startsWith('blockgate is serving'))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 200));
  return h.logs.filter((l) => !l.startsWith('{')).join('');
}

function readyPortals(h: DaemonHandle): string[] {
  const line = h.logs.find((l) => l.includes('"blockgate ready"'))!;
  return (JSON.parse(line) as { portals: string[] }).portals;
}

describe('embedded default listen addresses', () => {
  it('no listen flags, no config: iSCSI and NBD on 127.0.0.1 only, and the banner says how to change it', async () => {
    daemon = await startDaemon({ iscsi: null, nbd: null, wrap: NETNS });
    expect(readyPortals(daemon)).toEqual(['iscsi://127.0.0.1:3260', 'nbd://127.0.0.1:10809']);
    const bound = await listening(daemon);
    expect(bound).toContain('127.0.0.1:3260');
    expect(bound).toContain('127.0.0.1:10809');
    expect(bound.filter((a) => a.startsWith('0.0.0.0:') || a.startsWith('*:') || a.startsWith('[::]:'))).toEqual([]);
    const text = await banner(daemon);
    expect(text).toMatch(/Listening on loopback only/);
    expect(text).toContain('--iscsi-portal 0.0.0.0:3260');
    expect(text).toContain('--nbd-listen 0.0.0.0:10809');
    expect(text).not.toContain('Warning:');
    const info = await inNetns(daemon, 'nbdinfo', ['--size', 'nbd://127.0.0.1:10809/default']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout.trim()).toBe(String(1024 ** 3));
  }, 60_000);

  it('an explicit --iscsi-portal 0.0.0.0:PORT binds every interface; NBD keeps the loopback default', async () => {
    daemon = await startDaemon({ iscsi: '0.0.0.0:3260', nbd: null, wrap: NETNS });
    expect(readyPortals(daemon)).toEqual(['iscsi://0.0.0.0:3260', 'nbd://127.0.0.1:10809']);
    const bound = await listening(daemon);
    expect(bound).toContain('0.0.0.0:3260');
    expect(bound).toContain('127.0.0.1:10809');
    const text = await banner(daemon);
    expect(text).toContain('--nbd-listen 0.0.0.0:10809');
    expect(text).not.toContain('--iscsi-portal 0.0.0.0');
    // The open default target on a wildcard portal is called out, in the banner and the log.
    expect(text).toContain('Warning: served to every host without authentication: iqn.2026-11.io.blockgate:default on iscsi://0.0.0.0:3260.');
    expect(daemon.logs.some((l) => l.includes('"targets served without authentication on every interface"'))).toBe(true);
    const inq = await inNetns(daemon, 'iscsi-inq', ['iscsi://127.0.0.1:3260/iqn.2026-11.io.blockgate:default/1']);
    expect(inq.code, inq.stderr).toBe(0);
  }, 60_000);

  it('a blockgate.yaml saved by an older release (0.0.0.0) still binds every interface, with the warning', async () => {
    const dataDir = tempDir();
    daemon = await startDaemon({ dataDir, iscsi: null, nbd: null, wrap: NETNS });
    await daemon.stop();
    const saved = path.join(dataDir, 'blockgate.yaml');
    const text0 = fs.readFileSync(saved, 'utf8');
    expect(text0).toMatch(/127\.0\.0\.1:3260/); // what this release saves for the embedded default
    fs.writeFileSync(saved, text0.replace('127.0.0.1:3260', '0.0.0.0:3260').replace('127.0.0.1:10809', '0.0.0.0:10809'));
    daemon = await startDaemon({ dataDir, iscsi: null, nbd: null, wrap: NETNS });
    expect(readyPortals(daemon)).toEqual(['iscsi://0.0.0.0:3260', 'nbd://0.0.0.0:10809']);
    const text = await banner(daemon);
    expect(text).toContain('iqn.2026-11.io.blockgate:default on iscsi://0.0.0.0:3260, iqn.2026-11.io.blockgate:default on nbd://0.0.0.0:10809');
    expect(text).not.toContain('Listening on loopback only');
  }, 60_000);
});
