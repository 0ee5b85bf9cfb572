/**
 * Transmission over real loopback sockets with a hand-written client: reply
 * styles (simple, structured, extended), sparse reads, block status,
 * errors, pipelining, NBD_CMD_DISC, violations and shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../targets/nbd/constants.js';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { RawConn, infoData, metaData, option, request } from '../helpers/nbd-raw-client.js';

let s: Standalone;
const MiB = 1 << 20;

beforeAll(async () => {
  s = await startStandalone({
    exports: [
      { name: 'disk', sizeBytes: 16 * MiB },
      { name: 'ro', sizeBytes: MiB, readOnly: true },
    ],
  });
});
afterAll(async () => s.close());

type Mode = 'simple' | 'structured' | 'extended';

async function open(mode: Mode, name = 'disk', meta = true): Promise<RawConn> {
  const c = await RawConn.connect(s.port);
  await c.handshake();
  if (mode !== 'simple') {
    c.write(option(mode === 'extended' ? C.NBD_OPT_EXTENDED_HEADERS : C.NBD_OPT_STRUCTURED_REPLY));
    expect((await c.optReply()).type).toBe(C.NBD_REP_ACK);
    if (meta) {
      c.write(option(C.NBD_OPT_SET_META_CONTEXT, metaData(name, ['base:allocation'])));
      expect((await c.optReply()).type).toBe(C.NBD_REP_META_CONTEXT);
      expect((await c.optReply()).type).toBe(C.NBD_REP_ACK);
    }
  }
  c.write(option(C.NBD_OPT_GO, infoData(name)));
  for (;;) {
    const r = await c.optReply();
    if (r.type === C.NBD_REP_ACK) return c;
    expect(r.type).toBe(C.NBD_REP_INFO);
  }
}

describe('NBD transmission', () => {
  it('simple replies: write, read back, errors carry no payload', async () => {
    const c = await open('simple');
    const data = Buffer.alloc(8192, 0x5a);
    c.write(request(false, C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, 1n, 4096n, 8192n, data));
    expect(await c.reply()).toMatchObject({ magic: 'simple', error: 0, cookie: 1n });
    c.write(request(false, C.NBD_CMD_READ, 0, 2n, 4096n, 8192n));
    const r = await c.reply(8192);
    expect(r.payload.equals(data)).toBe(true);
    c.write(request(false, C.NBD_CMD_READ, 0, 3n, BigInt(16 * MiB), 512n));
    expect(await c.reply(512)).toMatchObject({ error: C.NBD_EINVAL, cookie: 3n, payload: Buffer.alloc(0) });
    c.write(request(false, C.NBD_CMD_WRITE, 0, 4n, BigInt(16 * MiB), 512n, Buffer.alloc(512)));
    expect(await c.reply()).toMatchObject({ error: C.NBD_ENOSPC, cookie: 4n });
    c.write(request(false, C.NBD_CMD_BLOCK_STATUS, 0, 5n, 0n, 512n));
    expect(await c.reply()).toMatchObject({ error: C.NBD_EINVAL, cookie: 5n });
    c.write(request(false, C.NBD_CMD_DISC, 0, 6n, 0n, 0n));
    expect(await c.closed()).toBe(true);
  });

  it('pipelines many requests and answers every cookie once', async () => {
    const c = await open('simple');
    const n = 64;
    const bufs: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      bufs.push(request(false, C.NBD_CMD_WRITE, 0, BigInt(1000 + i), BigInt(i * 4096), 4096n, Buffer.alloc(4096, i)));
    }
    c.write(Buffer.concat(bufs));
    const seen = new Set<bigint>();
    for (let i = 0; i < n; i++) {
      const r = await c.reply();
      expect(r.error).toBe(0);
      seen.add(r.cookie);
    }
    expect(seen.size).toBe(n);
    c.write(request(false, C.NBD_CMD_READ, 0, 7n, BigInt(10 * 4096), 4096n));
    expect((await c.reply(4096)).payload.every((b) => b === 10)).toBe(true);
    c.close();
  });

  it('DISC waits for outstanding requests before closing', async () => {
    const c = await open('simple');
    c.write(
      Buffer.concat([
        request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 512n, Buffer.alloc(512, 1)),
        request(false, C.NBD_CMD_FLUSH, 0, 2n, 0n, 0n),
        request(false, C.NBD_CMD_DISC, 0, 3n, 0n, 0n),
      ]),
    );
    const got = [await c.reply(), await c.reply()].map((r) => r.cookie).sort();
    expect(got).toEqual([1n, 2n]);
    expect(await c.closed()).toBe(true);
  });

  it('structured replies: sparse reads use OFFSET_HOLE, DF reads one OFFSET_DATA chunk', async () => {
    const c = await open('structured');
    const dev = s.device('disk');
    await dev.discard(MiB, MiB);
    await dev.write(MiB + 256 * 1024, Buffer.alloc(65536, 7));
    c.write(request(false, C.NBD_CMD_READ, 0, 1n, BigInt(MiB), BigInt(512 * 1024)));
    const chunks = await c.replyAll();
    const types = chunks.map((x) => x.type);
    expect(types).toContain(C.NBD_REPLY_TYPE_OFFSET_HOLE);
    expect(types).toContain(C.NBD_REPLY_TYPE_OFFSET_DATA);
    let covered = 0;
    for (const ch of chunks) {
      if (ch.type === C.NBD_REPLY_TYPE_OFFSET_HOLE) covered += ch.payload.readUInt32BE(8);
      if (ch.type === C.NBD_REPLY_TYPE_OFFSET_DATA) {
        covered += ch.payload.length - 8;
        expect(Number(ch.payload.readBigUInt64BE(0))).toBe(MiB + 256 * 1024);
        expect(ch.payload.subarray(8).every((b) => b === 7)).toBe(true);
      }
    }
    expect(covered).toBe(512 * 1024);
    expect(chunks[chunks.length - 1]!.flags & C.NBD_REPLY_FLAG_DONE).toBeTruthy();

    c.write(request(false, C.NBD_CMD_READ, C.NBD_CMD_FLAG_DF, 2n, BigInt(MiB), BigInt(512 * 1024)));
    const df = await c.replyAll();
    expect(df.map((x) => x.type)).toEqual([C.NBD_REPLY_TYPE_OFFSET_DATA]);
    expect(df[0]!.payload.length).toBe(8 + 512 * 1024);

    c.write(request(false, C.NBD_CMD_READ, 0, 3n, BigInt(64 * MiB), 512n));
    const err = await c.replyAll();
    expect(err).toHaveLength(1);
    expect(err[0]!.type).toBe(C.NBD_REPLY_TYPE_ERROR);
    expect(err[0]!.payload.readUInt32BE(0)).toBe(C.NBD_EINVAL);
    c.close();
  });

  it('structured replies: block status, REQ_ONE, write zeroes and trim', async () => {
    const c = await open('structured');
    c.write(request(false, C.NBD_CMD_WRITE_ZEROES, 0, 1n, BigInt(4 * MiB), BigInt(MiB)));
    expect((await c.reply()).error).toBe(0);
    c.write(request(false, C.NBD_CMD_WRITE, 0, 2n, BigInt(4 * MiB), 65536n, Buffer.alloc(65536, 1)));
    expect((await c.reply()).error).toBe(0);
    c.write(request(false, C.NBD_CMD_BLOCK_STATUS, 0, 3n, BigInt(4 * MiB), BigInt(MiB)));
    const [bs] = await c.replyAll();
    expect(bs!.type).toBe(C.NBD_REPLY_TYPE_BLOCK_STATUS);
    expect(bs!.payload.readUInt32BE(0)).toBe(C.BASE_ALLOCATION_ID);
    const descs: [number, number][] = [];
    for (let at = 4; at < bs!.payload.length; at += 8) descs.push([bs!.payload.readUInt32BE(at), bs!.payload.readUInt32BE(at + 4)]);
    expect(descs[0]).toEqual([65536, 0]);
    expect(descs[1]).toEqual([MiB - 65536, C.NBD_STATE_HOLE | C.NBD_STATE_ZERO]);
    c.write(request(false, C.NBD_CMD_BLOCK_STATUS, C.NBD_CMD_FLAG_REQ_ONE, 4n, BigInt(4 * MiB), 4096n));
    const [one] = await c.replyAll();
    expect(one!.payload.length).toBe(12);
    expect(one!.payload.readUInt32BE(4)).toBe(4096);
    c.write(request(false, C.NBD_CMD_TRIM, 0, 5n, BigInt(4 * MiB), 65536n));
    expect((await c.reply()).error).toBe(0);
    expect((await s.device('disk').blockStatus(4 * MiB, 65536))[0]!.hole).toBe(true);
    c.close();
  });

  it('extended headers: 32-byte requests and replies, offsets echoed, BLOCK_STATUS_EXT and payload filter', async () => {
    const c = await open('extended');
    const data = Buffer.alloc(4096, 9);
    c.write(request(true, C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_PAYLOAD_LEN, 1n, BigInt(8 * MiB), 4096n, data));
    expect(await c.reply()).toMatchObject({ magic: 'extended', type: C.NBD_REPLY_TYPE_NONE, cookie: 1n, offset: BigInt(8 * MiB) });
    c.write(request(true, C.NBD_CMD_READ, 0, 2n, BigInt(8 * MiB), 4096n));
    const [rd] = await c.replyAll();
    expect(rd).toMatchObject({ magic: 'extended', type: C.NBD_REPLY_TYPE_OFFSET_DATA, offset: BigInt(8 * MiB) });
    expect(rd!.payload.subarray(8).equals(data)).toBe(true);
    // WRITE without PAYLOAD_LEN: its data is still consumed, the request fails.
    c.write(request(true, C.NBD_CMD_WRITE, 0, 3n, 0n, 4096n, data));
    expect((await c.replyAll())[0]).toMatchObject({ type: C.NBD_REPLY_TYPE_ERROR, cookie: 3n });
    c.write(request(true, C.NBD_CMD_BLOCK_STATUS, 0, 4n, BigInt(8 * MiB), BigInt(8 * MiB)));
    const [bx] = await c.replyAll();
    expect(bx!.type).toBe(C.NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
    expect(bx!.payload.readUInt32BE(4)).toBe((bx!.payload.length - 8) / 16);
    const filter = Buffer.alloc(12);
    filter.writeBigUInt64BE(4096n, 0);
    filter.writeUInt32BE(C.BASE_ALLOCATION_ID, 8);
    c.write(request(true, C.NBD_CMD_BLOCK_STATUS, C.NBD_CMD_FLAG_PAYLOAD_LEN, 5n, BigInt(8 * MiB), 12n, filter));
    const [bf] = await c.replyAll();
    expect(bf!.type).toBe(C.NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
    expect(Number(bf!.payload.readBigUInt64BE(8))).toBe(4096); // the payload's effect length, not the header's
    // A 64-bit effect length beyond the export is EINVAL, not a disconnect.
    c.write(request(true, C.NBD_CMD_WRITE_ZEROES, 0, 6n, 0n, 1n << 40n));
    expect((await c.replyAll())[0]!.payload.readUInt32BE(0)).toBe(C.NBD_ENOSPC);
    c.close();
  });

  it('read-only export: EPERM for writes', async () => {
    const c = await open('simple', 'ro');
    c.write(request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 512n, Buffer.alloc(512)));
    expect((await c.reply()).error).toBe(C.NBD_EPERM);
    c.write(request(false, C.NBD_CMD_READ, 0, 2n, 0n, 512n));
    expect((await c.reply(512)).error).toBe(0);
    c.close();
  });

  it('bad request magic closes only that connection; sessions are reported', async () => {
    const before = s.events.length;
    const bad = await open('simple');
    const good = await open('simple');
    bad.write(Buffer.alloc(28, 0x42));
    expect(await bad.closed()).toBe(true);
    good.write(request(false, C.NBD_CMD_READ, 0, 1n, 0n, 512n));
    expect((await good.reply(512)).error).toBe(0);
    good.close();
    await good.closed();
    await new Promise((r) => setTimeout(r, 50));
    const evs = s.events.slice(before);
    const opened = evs.filter((e) => e.type === 'session-open').map((e) => e.sid);
    expect(opened).toHaveLength(2);
    for (const sid of opened) expect(evs.some((e) => e.type === 'session-close' && e.sid === sid)).toBe(true);
  });

  it('shutdown: new requests get NBD_ESHUTDOWN, then the connection closes', async () => {
    const c = await open('structured');
    c.write(request(false, C.NBD_CMD_READ, 0, 1n, 0n, 512n));
    await c.replyAll();
    const done = s.protocol.shutdown('test');
    expect(await c.closed()).toBe(true);
    await done;
  });
});
