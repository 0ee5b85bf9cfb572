import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chunkResponse } from '../../../../backends/chunk/proto/chunk.js';
import { MSG } from '../../../../backends/chunk/proto/messages.js';
import { RpcClient, RpcError } from '../../../../backends/chunk/proto/rpc-client.js';
import { RpcServer, RpcStatusError } from '../../../../backends/chunk/proto/rpc-server.js';
import { STATUS } from '../../../../backends/chunk/proto/status.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(server: RpcServer): Promise<string> {
  const port = await server.listen('127.0.0.1', 0);
  cleanups.push(() => server.close());
  return `127.0.0.1:${port}`;
}
function client(addr: string, opts = {}): RpcClient {
  const c = new RpcClient(addr, opts);
  cleanups.push(() => c.close());
  return c;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RpcServer / RpcClient', () => {
  it('pipelines requests on one connection and matches out-of-order responses by id', async () => {
    const server = new RpcServer();
    let connections = 0;
    server.handleJson(MSG.GET_VOLUME, async (req) => {
      await sleep(Number(req.delay));
      return { echo: req.n };
    });
    const addr = await start(server);
    const c = client(addr);
    const orig = server.adopt.bind(server);
    server.adopt = (s: net.Socket) => (connections++, orig(s));
    const delays = [60, 10, 40, 0, 20];
    const res = await Promise.all(delays.map((delay, n) => c.callJson<{ echo: number; status: number }>(MSG.GET_VOLUME, { n, delay })));
    expect(res.map((r) => r.echo)).toEqual([0, 1, 2, 3, 4]);
    expect(res.every((r) => r.status === STATUS.OK)).toBe(true);
    expect(connections).toBeLessThanOrEqual(1);
  });

  it('carries chunk requests with raw data and binary responses', async () => {
    const server = new RpcServer();
    const stored = new Map<number, Buffer>();
    server.handleChunk(MSG.WRITE_CHUNK, (req) => (stored.set(req.chunkId, Buffer.from(req.data!)), chunkResponse(STATUS.OK)));
    server.handleChunk(MSG.READ_CHUNK, (req) => {
      const d = stored.get(req.chunkId);
      return d ? chunkResponse(STATUS.OK, { data: d.subarray(req.offset, req.offset + req.length) }) : chunkResponse(STATUS.CHUNK_NOT_EXIST);
    });
    const c = client(await start(server));
    const data = Buffer.alloc(256 * 1024, 0xab);
    expect((await c.callChunk(MSG.WRITE_CHUNK, { copysetId: 1, chunkId: 5, offset: 0, length: data.length, seq: 1, data })).status).toBe(STATUS.OK);
    const r = await c.callChunk(MSG.READ_CHUNK, { copysetId: 1, chunkId: 5, offset: 100, length: 1000, seq: 0 });
    expect(r.data?.equals(data.subarray(100, 1100))).toBe(true);
    expect((await c.callChunk(MSG.READ_CHUNK, { copysetId: 1, chunkId: 6, offset: 0, length: 1, seq: 0 })).status).toBe(STATUS.CHUNK_NOT_EXIST);
  });

  it('answers unknown types with UNSUPPORTED, handler errors with their status, and delivers one-way Raft messages', async () => {
    const server = new RpcServer();
    const got: number[] = [];
    server.handleJson(MSG.GET_VOLUME, () => {
      throw new RpcStatusError(STATUS.OVERLOAD, 'busy');
    });
    server.handleRaft((env) => got.push(env.groupId, env.payload.length));
    const c = client(await start(server));
    await expect(c.callJson(MSG.LIST_VOLUMES, {})).rejects.toMatchObject({ kind: 'REMOTE', status: STATUS.UNSUPPORTED });
    await expect(c.callJson(MSG.GET_VOLUME, {})).rejects.toMatchObject({ kind: 'REMOTE', status: STATUS.OVERLOAD });
    await expect(c.call(MSG.WRITE_CHUNK, [Buffer.alloc(3)])).rejects.toMatchObject({ kind: 'REMOTE', status: STATUS.UNSUPPORTED });
    expect(c.sendRaft({ groupId: 9, payload: Buffer.from('abc') })).toBe(true);
    for (let i = 0; i < 50 && got.length === 0; i++) await sleep(10);
    expect(got).toEqual([9, 3]);
  });

  it('times out a call, and fails every pending call with DISCONNECTED when the peer drops', async () => {
    const server = new RpcServer();
    server.handleJson(MSG.GET_VOLUME, () => new Promise<object>(() => undefined));
    server.handleJson(MSG.LIST_VOLUMES, () => ({}));
    const addr = await start(server);
    const c = client(addr);
    await expect(c.callJson(MSG.GET_VOLUME, {}, 50)).rejects.toMatchObject({ kind: 'TIMEOUT' });
    const pending = [c.callJson(MSG.GET_VOLUME, {}, 5000), c.callJson(MSG.GET_VOLUME, {}, 5000)];
    await sleep(20);
    await server.close();
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status === 'rejected' && (r.reason as RpcError).kind)).toEqual(['DISCONNECTED', 'DISCONNECTED']);
    expect(c.inflight).toBe(0);
  });

  it('reconnects with backoff after the peer comes back', async () => {
    const server = new RpcServer();
    server.handleJson(MSG.LIST_VOLUMES, () => ({ ok: 1 }));
    const port = await server.listen('127.0.0.1', 0);
    const c = client(`127.0.0.1:${port}`, { backoffMinMs: 20, backoffMaxMs: 40 });
    expect(await c.callJson(MSG.LIST_VOLUMES, {})).toMatchObject({ ok: 1 });
    await server.close();
    await sleep(20);
    await expect(c.callJson(MSG.LIST_VOLUMES, {})).rejects.toBeInstanceOf(RpcError);
    const again = new RpcServer();
    again.handleJson(MSG.LIST_VOLUMES, () => ({ ok: 2 }));
    await again.listen('127.0.0.1', port);
    cleanups.push(() => again.close());
    let res: unknown;
    for (let i = 0; i < 40 && !res; i++) {
      res = await c.callJson(MSG.LIST_VOLUMES, {}).catch(() => undefined);
      if (!res) await sleep(25);
    }
    expect(res).toMatchObject({ ok: 2 });
  });

  it('closes the connection on a bad frame', async () => {
    const server = new RpcServer();
    const addr = await start(server);
    const [host, port] = addr.split(':');
    const s = net.connect(Number(port), host);
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise((r) => s.once('close', r));
    s.write(Buffer.alloc(64, 0x55));
    await closed;
    expect(s.destroyed).toBe(true);
  });
});
