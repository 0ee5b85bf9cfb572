/**
 * #12 item 4: CHAP guessing over real sockets against the real daemon.
 * Four parallel guessers from 127.0.0.1 try wrong secrets for alice for 3 s;
 * before the throttle they completed hundreds of guesses per second (each
 * logged). Checked: the guesses are throttled, the daemon's log stays
 * bounded, the metric counts every failure, and bob from 127.0.0.2 logs in
 * promptly meanwhile. Also: `account new` refuses a short secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bgadm, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { chapLoginAttempt } from '../helpers/iscsi-chap-login.js';

const TARGET = 'iqn.2026-12.io.blockgate:chap-throttle';
const AUTH_FAILURE = 0x0201;
let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-chap-');
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(
    cfg,
    'accounts:\n  - { user: alice, password: alicesecret12 }\n  - { user: bob, password: bobsecret1234 }\n' +
      `targets:\n  - tid: 1\n    name: ${TARGET}\n    incomingUsers: [alice, bob]\n` +
      '    luns:\n      - lun: 1\n        bstype: memory\n        backingStore: m\n        sizeBytes: 4MiB\n',
  );
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

async function scrapeAuthFailures(): Promise<number> {
  const text = await (await fetch(daemon.metricsUrl!)).text();
  let sum = 0;
  for (const m of text.matchAll(/^blockgate_iscsi_auth_failures_total\{kind="(chap|throttled)"\} (\d+)$/gm)) sum += Number(m[2]);
  return sum;
}

describe('CHAP guessing is throttled (#12 item 4)', () => {
  test('wrong guesses are slowed, logs bounded, failures counted, other clients unaffected', async () => {
    const failedBefore = await scrapeAuthFailures();
    const logLinesBefore = daemon.logs.filter((l) => l.includes('iscsi login failed')).length;
    const port = daemon.iscsiPort!;
    const until = Date.now() + 3000;
    const outcomes: number[] = [];
    const guesser = async (n: number) => {
      for (let i = 0; Date.now() < until; i++) {
        outcomes.push(await chapLoginAttempt({ port, initiatorName: `iqn.2026-12.test:guesser${n}`, targetName: TARGET, user: 'alice', secret: `wrong-guess-${n}-${i}` }));
      }
    };
    const guessing = Promise.all([0, 1, 2, 3].map(guesser));
    // Meanwhile another client, from another address and with its own account, logs in promptly.
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const bob = await chapLoginAttempt({ port, localAddress: '127.0.0.2', initiatorName: 'iqn.2026-12.test:bob', targetName: TARGET, user: 'bob', secret: 'bobsecret1234' });
    const bobMs = Date.now() - t0;
    await guessing;
    expect(bob).toBe(0);
    expect(bobMs).toBeLessThan(1000);
    expect(outcomes.every((s) => s === AUTH_FAILURE)).toBe(true);
    // 3 free failures, then 250, 500, 1000, 2000 ms apart: a handful in 3 s (unthrottled: ~1,800/s).
    expect(outcomes.length).toBeLessThanOrEqual(16);
    expect(outcomes.length).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 200));
    const logLines = daemon.logs.filter((l) => l.includes('iscsi login failed')).length - logLinesBefore;
    console.log(`chap guesses completed in 3 s by 4 parallel guessers: ${outcomes.length}; login-failure log lines: ${logLines}; bob's login: ${bobMs} ms`);
    expect(logLines).toBeGreaterThan(0);
    expect(logLines).toBeLessThanOrEqual(11);
    expect((await scrapeAuthFailures()) - failedBefore).toBe(outcomes.length);
  }, 30_000);

  test('target update CHAP_A takes a list of the implemented algorithms only (#12 item 14)', async () => {
    const update = (value: string) => bgadm(daemon, ['--lld', 'iscsi', '--op', 'update', '--mode', 'target', '--tid', '1', '--name', 'CHAP_A', '--value', value]);
    expect((await update('7,5')).code).toBe(0);
    expect((await update('5,9')).code).toBe(22);
    expect((await update('')).code).toBe(22);
    expect((await update('5,6,7,8')).code).toBe(0);
  });

  test('account new refuses a secret shorter than 12 characters, with a plain message', async () => {
    const r = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'account', '--user', 'u', '--password', 'short']);
    expect(r.code).toBe(22);
    expect(r.stderr).toBe('bgadm: CHAP secret too short: at least 12 characters are required (got 5)\n');
    const ok = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'account', '--user', 'u', '--password', 'twelve-chars']);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
