/**
 * #12 item 2, iSCSI: idle peers holding login slots. 1,500 idle TCP
 * connections to the iSCSI portal from 127.0.0.1 (which reconnect whenever
 * the daemon closes one, as an attacker would) must not pile up descriptors
 * in the daemon nor keep a real initiator — libiscsi's iscsi-inq, also on
 * 127.0.0.1 — out; the limits come from the config, and what the portal
 * turns away is logged in rate-limited summary lines, not one line each.
 * Before the login slots every idle connection held a descriptor for the
 * 15 s login timeout: the daemon's fd count grew by 1,500.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { openFds } from '../helpers/daemon-resources.js';
import { holdIdlePeers, type IdlePeers } from '../helpers/idle-peers.js';

const IDLE = 1500;
const PER_ADDRESS = 100;
const TARGET = 'iqn.2026-12.io.blockgate:login-slots';
const SUMMARY = 'iscsi login slots: idle connections evicted, refused or timed out';
/** Descriptors beyond the slots: listeners, admin socket, metrics, worker pipes, a LUN, connections being closed. */
const FD_MARGIN = 60;

let daemon: DaemonHandle | undefined;
let peers: IdlePeers | undefined;

afterEach(async () => {
  await peers?.stop();
  peers = undefined;
  await daemon?.stop();
  daemon = undefined;
});

interface Summary {
  portal: string;
  evicted: number;
  refused: number;
  timedOut: number;
  maxLogins: number;
  maxLoginsPerAddress: number;
  loginTimeoutMs: number;
  logins: number;
}

function summaries(h: DaemonHandle): Summary[] {
  return h.logs.filter((l) => l.includes(SUMMARY)).map((l) => JSON.parse(l) as Summary);
}

function writeConfig(dir: string, iscsi: string[]): string {
  const config = path.join(dir, 'blockgate.yaml');
  fs.writeFileSync(config, [
    'iscsi:',
    ...iscsi.map((l) => `  ${l}`),
    'targets:',
    `  - name: ${TARGET}`,
    '    luns:',
    '      - lun: 1',
    '        bstype: memory',
    '        backingStore: m',
    '        sizeBytes: 16MiB',
    '',
  ].join('\n'));
  return config;
}

describe('iSCSI login slots under 1,500 idle connections', () => {
  it('iscsi-inq logs in at once; the daemon holds at most the slots; limits from the config; logged rate-limited', async () => {
    const dir = tempDir('bg-login-slots-');
    const config = writeConfig(dir, ['maxLogins: 300', `maxLoginsPerAddress: ${PER_ADDRESS}`, 'loginTimeoutSeconds: 20']);
    daemon = await startDaemon({ dataDir: dir, nbd: false, args: ['--config', config] });
    const pid = daemon.proc.pid!;
    const fdsBefore = openFds(pid);

    peers = await holdIdlePeers('127.0.0.1', daemon.iscsiPort!, IDLE, { holdSeconds: 60, maxReconnects: 20_000 });
    expect(peers.opened).toBe(IDLE);
    let fdsMax = openFds(pid);
    const sample = (): void => {
      fdsMax = Math.max(fdsMax, openFds(pid));
    };
    const sampler = setInterval(sample, 50);
    const started = Date.now();
    let inq: Awaited<ReturnType<typeof run>>;
    try {
      inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${TARGET}/1`], { timeoutMs: 10_000 });
    } finally {
      clearInterval(sampler);
    }
    const inqMs = Date.now() - started;
    expect(inq.code, inq.stderr + inq.stdout).toBe(0);
    expect(inq.stdout).toMatch(/^Vendor:BLKGATE/m);
    expect(inqMs).toBeLessThan(10_000);
    // The peers go on reconnecting meanwhile: sample a little longer.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      sample();
    }
    // The per-address limit bounds what 127.0.0.1 holds; far below the 1,500 peers.
    expect(fdsMax).toBeLessThanOrEqual(fdsBefore + PER_ADDRESS + FD_MARGIN);

    const last = await peers.stop();
    peers = undefined;
    const m = /opened=(\d+) closed_by_server=(\d+)/.exec(last);
    expect(m, last).not.toBeNull();
    const closedByServer = Number(m![2]);
    expect(closedByServer).toBeGreaterThan(0);
    // At most 100 of the 1,500 may stay: at least 1,400 were turned away; the
    // counts since the last line come out when its 10 s window ends.
    const mustTurnAway = IDLE - PER_ADDRESS;
    const turnedAwayNow = (): number => summaries(daemon!).reduce((n, s) => n + s.evicted + s.refused, 0);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && turnedAwayNow() < Math.max(closedByServer, mustTurnAway)) await new Promise((r) => setTimeout(r, 200));
    const elapsedMs = Date.now() - started;

    const lines = summaries(daemon);
    expect(lines.length).toBeGreaterThan(0);
    // One line at once, then at most one per 10 s window: not one per connection.
    expect(lines.length).toBeLessThanOrEqual(2 + Math.ceil(elapsedMs / 10_000));
    const turnedAway = lines.reduce((n, s) => n + s.evicted + s.refused, 0);
    expect(turnedAway).toBeGreaterThanOrEqual(Math.max(closedByServer, mustTurnAway));
    expect(lines[0]).toMatchObject({ maxLogins: 300, maxLoginsPerAddress: PER_ADDRESS, loginTimeoutMs: 20_000 });
    for (const s of lines) expect(s.logins).toBeLessThanOrEqual(PER_ADDRESS);
    expect(daemon.logs.filter((l) => l.includes('iscsi login succeeded')).length).toBeGreaterThanOrEqual(1);
    process.stdout.write(
      `iscsi-inq under ${IDLE} idle peers: ${inqMs} ms; daemon fds ${fdsBefore} before, at most ${fdsMax} while held; ` +
        `${turnedAway} turned away in ${lines.length} log lines; peers: ${last}\n`,
    );
  }, 90_000);

  it('an idle connection is dropped after loginTimeoutSeconds, counted in a summary line', async () => {
    const dir = tempDir('bg-login-slots-');
    const config = writeConfig(dir, ['loginTimeoutSeconds: 1']);
    daemon = await startDaemon({ dataDir: dir, nbd: false, args: ['--config', config] });
    const started = Date.now();
    peers = await holdIdlePeers('127.0.0.1', daemon.iscsiPort!, 5, { holdSeconds: 4 });
    expect(await peers.finished()).toMatch(/closed_by_server=5/);
    peers = undefined;
    const deadline = Date.now() + 15_000;
    const timedOut = (): number => summaries(daemon!).reduce((n, s) => n + s.timedOut, 0);
    while (Date.now() < deadline && timedOut() < 5) await new Promise((r) => setTimeout(r, 100));
    expect(timedOut()).toBe(5);
    const lines = summaries(daemon);
    expect(lines[0]).toMatchObject({ loginTimeoutMs: 1000, maxLogins: 1024, maxLoginsPerAddress: 128 });
    // One at once, then one per 10 s window (a loaded machine may spread the five over a boundary).
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(Math.min(4, 2 + Math.ceil((Date.now() - started) / 10_000)));
  }, 30_000);
});
