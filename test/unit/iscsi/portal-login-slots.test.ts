/**
 * The portal's login slots (#12 item 2) over real sockets, in process: the
 * per-address and per-portal limits evict idle connections, not one that is
 * logging in; a Discovery session holds a slot until it closes and is only
 * evicted once quiet; the login timeout is an option; and the config keys
 * reach the portal options.
 */
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { iscsiLoginLimits } from '../../../src/bin/iscsi-frontend.js';
import { defaultConfig } from '../../../src/config/schema.js';
import { RawInitiator } from '../../helpers/iscsi-initiator.js';
import { startIscsiStandalone, type Standalone } from '../../helpers/iscsi-standalone.js';

let server: Standalone | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await sleep(5);
  return cond();
}

interface Peer {
  socket: net.Socket;
  closed: boolean;
}

/** A TCP connection from `localAddress` that sends nothing (or `send`, once). */
async function peer(localAddress: string, send?: Buffer): Promise<Peer> {
  const socket = net.connect({ port: server!.port, host: '127.0.0.1', localAddress });
  sockets.push(socket);
  const p: Peer = { socket, closed: false };
  socket.on('error', () => {});
  socket.on('close', () => (p.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  if (send) socket.write(send);
  return p;
}

/** Open a peer into a free slot and wait until the portal has counted it (the accept is asynchronous). */
async function arrive(localAddress: string, expectOpen: number): Promise<Peer> {
  const p = await peer(localAddress);
  expect(await waitFor(() => server!.portal.openConnections === expectOpen)).toBe(true);
  return p;
}

describe('portal: login slots', () => {
  test('a full address evicts its own oldest idle connection, a full portal the oldest overall; a real login still gets in', async () => {
    server = await startIscsiStandalone({ portal: { maxLogins: 4, maxLoginsPerAddress: 3 } });
    const a1 = await arrive('127.0.0.1', 1);
    const a2 = await arrive('127.0.0.1', 2);
    const a3 = await arrive('127.0.0.1', 3);
    const b1 = await arrive('127.0.0.2', 4);
    await sleep(20); // a later arrival than b1 for sure
    const a4 = await peer('127.0.0.1'); // 127.0.0.1 is full: its oldest idle connection goes
    expect(await waitFor(() => a1.closed)).toBe(true);
    const c1 = await peer('127.0.0.3'); // the portal is full: the oldest idle of all goes
    expect(await waitFor(() => a2.closed)).toBe(true);
    expect(server.portal.openConnections).toBe(4);
    expect([a3, b1, a4, c1].some((p) => p.closed)).toBe(false);

    const ini = await RawInitiator.connect(server.port);
    expect(await ini.login({ initiatorName: 'iqn.2026-12.test:slots', targetName: server.targetName })).toBe(0);
    expect(a3.closed || (await waitFor(() => a3.closed))).toBe(true); // the oldest idle one made room for it
    // Handed off: the logged-in connection no longer holds a login slot.
    expect(await waitFor(() => server!.portal.openConnections === 3)).toBe(true);
    expect(server.logins).toHaveLength(1);
    ini.close();
  });

  test('a Discovery session holds a slot until it closes; idle arrivals do not evict it, only once it is quiet for 1 s', async () => {
    server = await startIscsiStandalone({ portal: { maxLogins: 2, maxLoginsPerAddress: 2 } });
    const discover = async (): Promise<RawInitiator> => {
      const d = await RawInitiator.connect(server!.port);
      expect(await d.login({ initiatorName: 'iqn.2026-12.test:disc', targetName: '', sessionType: 'Discovery' })).toBe(0);
      return d;
    };
    const first = await discover();
    expect(server.portal.openConnections).toBe(1);
    expect(await first.logout()).toBe(true);
    expect(await waitFor(() => server!.portal.openConnections === 0)).toBe(true);

    const d = await discover();
    const i1 = await arrive('127.0.0.1', 2);
    await peer('127.0.0.1'); // full: the idle one goes, not the Discovery session
    expect(await waitFor(() => i1.closed)).toBe(true);
    expect(d.closed).toBe(false);
    // Replace the idle one by a connection that has spoken (one byte of a header), after the Discovery session's last PDU.
    await sleep(20);
    const talker = await peer('127.0.0.1', Buffer.from([0x43]));
    expect(await waitFor(() => server!.portal.openConnections === 2)).toBe(true);
    await sleep(1100); // both quiet for over 1 s now: the least recently active (the Discovery session) goes next
    await peer('127.0.0.1');
    expect(await d.waitClosed(2000)).toBe(true);
    expect(talker.closed).toBe(false);
    expect(server.portal.openConnections).toBe(2);
  });

  test('loginTimeoutMs closes a connection that does not finish login', async () => {
    server = await startIscsiStandalone({ portal: { loginTimeoutMs: 200 } });
    const p = await arrive('127.0.0.1', 1);
    expect(await waitFor(() => p.closed, 5000)).toBe(true);
    expect(server.portal.openConnections).toBe(0);
  });

  test('iscsi.* config keys become portal options; unset keys keep the defaults', () => {
    expect(iscsiLoginLimits(defaultConfig())).toEqual({});
    expect(iscsiLoginLimits({ ...defaultConfig(), iscsi: { maxLogins: 300, maxLoginsPerAddress: 100, loginTimeoutSeconds: 20 } })).toEqual({
      maxLogins: 300,
      maxLoginsPerAddress: 100,
      loginTimeoutMs: 20_000,
    });
  });
});
