/**
 * The portal performs the throttle's waits per connection (#12 item 4): a
 * delayed outcome does not hold up other logins, and a connection whose peer
 * goes away during the wait is released at once.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { chapLoginAttempt } from '../../helpers/iscsi-chap-login.js';
import { startIscsiStandalone, type Standalone } from '../../helpers/iscsi-standalone.js';

let server: Standalone | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await sleep(10);
  return cond();
}

describe('portal: throttled CHAP outcomes', () => {
  test('a delayed connection stays open until its outcome; one the peer closes is released at once; others go on', async () => {
    server = await startIscsiStandalone({
      incoming: [{ user: 'alice', secret: 'alicesecret12' }, { user: 'bob', secret: 'bobsecret1234' }],
      portal: { throttle: { freeFailures: 0, baseDelayMs: 2000, maxDelayMs: 2000 } },
    });
    const base = { port: server.port, initiatorName: 'iqn.2026-12.test:g', targetName: server.targetName, user: 'alice' };
    expect(await chapLoginAttempt({ ...base, secret: 'wrong-guess-01' })).toBe(0x0201); // judged at once, spaces the next by 2 s
    const delayed = chapLoginAttempt({ ...base, secret: 'wrong-guess-02' });
    expect(await waitFor(() => server!.portal.openConnections === 1, 1000)).toBe(true);
    await sleep(300);
    expect(server.portal.openConnections).toBe(1); // still waiting for its slot
    // Another client (another account; loopback address 127.0.0.2) is not held up.
    const t0 = Date.now();
    expect(await chapLoginAttempt({ ...base, localAddress: '127.0.0.2', user: 'bob', secret: 'bobsecret1234' })).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await delayed).toBe(0x0201);
    expect(await waitFor(() => server!.portal.openConnections === 0, 1000)).toBe(true);
    // A guess whose peer leaves during the wait: the connection (and its timer) is released at once.
    const t1 = Date.now();
    expect(await chapLoginAttempt({ ...base, secret: 'wrong-guess-03', abortAfterResponse: true })).toBe(-2);
    expect(await waitFor(() => server!.portal.openConnections === 0, 1000)).toBe(true);
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  test('a request pipelined behind a throttled CHAP response gets no early answer: the connection is dropped', async () => {
    server = await startIscsiStandalone({
      incoming: [{ user: 'alice', secret: 'alicesecret12' }],
      portal: { throttle: { freeFailures: 0, baseDelayMs: 2000, maxDelayMs: 2000 } },
    });
    const base = { port: server.port, initiatorName: 'iqn.2026-12.test:p', targetName: server.targetName, user: 'alice' };
    expect(await chapLoginAttempt({ ...base, secret: 'wrong-guess-01' })).toBe(0x0201);
    const t0 = Date.now();
    // The right secret this time: without the guard the pipelined request would be answered at once, revealing the success.
    expect(await chapLoginAttempt({ ...base, secret: 'alicesecret12', pipelineAfterResponse: true })).toBe(-1);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await waitFor(() => server!.portal.openConnections === 0, 1000)).toBe(true);
  });
});
