import { describe, expect, it } from 'vitest';
import * as C from '../../../targets/nbd/constants.js';
import { RequestFramer } from '../../../targets/nbd/framer.js';
import {
  buildBlockStatus,
  buildDone,
  buildError,
  buildReadData,
  buildReadHole,
  readReplyHeadroom,
  writeReadReplyHead,
  type ReplyMode,
} from '../../../targets/nbd/replies.js';
import {
  decodeInfoRequest,
  decodeMetaContextRequest,
  decodeOptionHeader,
  decodeRequestHeader,
  decodeString,
  encodeExportNameReply,
  encodeGreeting,
  encodeOptionReply,
  encodeSimpleReply,
  writeChunkHeader,
} from '../../../targets/nbd/wire.js';
import { infoData, metaData, option, parseOptReplies, request } from '../../helpers/nbd-raw-client.js';

describe('NBD wire codec', () => {
  it('greeting, option header and option reply layouts', () => {
    const g = encodeGreeting(3);
    expect(g.toString('hex')).toBe(Buffer.from('NBDMAGICIHAVEOPT').toString('hex') + '0003');
    const h = decodeOptionHeader(option(7, Buffer.alloc(5)));
    expect(h).toEqual({ ok: true, value: { option: 7, length: 5 } });
    expect(decodeOptionHeader(Buffer.alloc(16)).ok).toBe(false);
    expect(decodeOptionHeader(Buffer.alloc(3)).ok).toBe(false);
    const r = parseOptReplies(encodeOptionReply(6, C.NBD_REP_ERR_UNKNOWN, Buffer.from('msg'))).replies[0]!;
    expect(r).toEqual({ option: 6, type: 0x80000006, data: Buffer.from('msg') });
  });

  it('INFO/GO request round trip and violations', () => {
    expect(decodeInfoRequest(infoData('exp', [0, 3]))).toEqual({ ok: true, value: { name: 'exp', infos: [0, 3] } });
    expect(decodeInfoRequest(infoData('', []))).toEqual({ ok: true, value: { name: '', infos: [] } });
    const d = infoData('exp', [1]);
    expect(decodeInfoRequest(d.subarray(0, d.length - 1)).ok).toBe(false);
    expect(decodeInfoRequest(Buffer.concat([d, Buffer.from([0])])).ok).toBe(false);
    const huge = Buffer.from(d);
    huge.writeUInt32BE(0xffffffff, 0);
    expect(decodeInfoRequest(huge).ok).toBe(false);
    expect(decodeInfoRequest(infoData('a\0b')).ok).toBe(false);
  });

  it('META_CONTEXT request round trip and violations', () => {
    const d = metaData('e', ['base:allocation', 'x:y']);
    expect(decodeMetaContextRequest(d, 10)).toEqual({ ok: true, value: { name: 'e', queries: ['base:allocation', 'x:y'] } });
    expect(decodeMetaContextRequest(d, 1).ok).toBe(false);
    for (let cut = 0; cut < d.length; cut++) expect(decodeMetaContextRequest(d.subarray(0, cut), 10).ok).toBe(false);
    expect(decodeMetaContextRequest(Buffer.concat([d, Buffer.alloc(1)]), 10).ok).toBe(false);
  });

  it('strings: NUL, invalid UTF-8 and length are violations', () => {
    expect(decodeString(Buffer.from('ok'))).toEqual({ ok: true, value: 'ok' });
    expect(decodeString(Buffer.from([0xff, 0xfe])).ok).toBe(false);
    expect(decodeString(Buffer.alloc(4097, 0x61)).ok).toBe(false);
  });

  it('export name reply with and without zero padding', () => {
    const r = encodeExportNameReply(1 << 20, 0x1234, false);
    expect(r.length).toBe(134);
    expect(r.readBigUInt64BE(0)).toBe(1n << 20n);
    expect(r.readUInt16BE(8)).toBe(0x1234);
    expect(r.subarray(10).every((b) => b === 0)).toBe(true);
    expect(encodeExportNameReply(1, 1, true).length).toBe(10);
  });

  it('compact and extended request headers', () => {
    const c = decodeRequestHeader(request(false, C.NBD_CMD_READ, 4, 0xdeadbeefn, 1n << 40n, 4096n), false);
    expect(c).toEqual({ ok: true, value: { flags: 4, type: 0, cookie: 0xdeadbeefn, offset: 1n << 40n, length: 4096n } });
    const e = decodeRequestHeader(request(true, C.NBD_CMD_TRIM, 0, 1n, 0n, 1n << 35n), true);
    expect(e.ok && e.value.length).toBe(1n << 35n);
    expect(decodeRequestHeader(request(false, 0, 0, 1n, 0n, 1n), true).ok).toBe(false);
    expect(decodeRequestHeader(request(true, 0, 0, 1n, 0n, 1n), false).ok).toBe(false);
  });

  it('64-bit header fields round-trip at the 32-bit boundary and the top of the range', () => {
    for (const v of [0n, 1n, 0xffffffffn, 0x1_0000_0000n, 0xfffffffffffffffen, 0xffffffffffffffffn]) {
      const h = decodeRequestHeader(request(true, C.NBD_CMD_READ, 0, v, v, v), true);
      expect(h.ok && [h.value.cookie, h.value.offset, h.value.length]).toEqual([v, v, v]);
      const want = Buffer.alloc(8);
      want.writeBigUInt64BE(v);
      expect(encodeSimpleReply(v, 0).subarray(8).equals(want)).toBe(true);
      const ext = Buffer.alloc(32);
      writeChunkHeader(ext, 'extended', 1, 2, v, v, 0xffffffff);
      expect([ext.subarray(8, 16).equals(want), ext.subarray(16, 24).equals(want), ext.readBigUInt64BE(24)]).toEqual([true, true, 0xffffffffn]);
    }
  });

  it('replies: simple, structured and extended layouts', () => {
    const s = { cookie: 42n, offset: 4096n };
    const simple = buildDone({ mode: 'simple', ...s })[0]!;
    expect([simple.readUInt32BE(0), simple.readUInt32BE(4), simple.readBigUInt64BE(8)]).toEqual([C.NBD_SIMPLE_REPLY_MAGIC, 0, 42n]);
    expect(buildDone({ mode: 'structured', ...s })[0]!.readUInt32BE(0)).toBe(C.NBD_SIMPLE_REPLY_MAGIC);
    const ext = buildDone({ mode: 'extended', ...s })[0]!;
    expect(ext.length).toBe(32);
    expect([ext.readUInt32BE(0), ext.readUInt16BE(4), ext.readUInt16BE(6), ext.readBigUInt64BE(16), ext.readBigUInt64BE(24)]).toEqual([
      C.NBD_EXTENDED_REPLY_MAGIC,
      1,
      0,
      4096n,
      0n,
    ]);
    const data = Buffer.from('abcd');
    const [h, p] = buildReadData({ mode: 'structured', ...s }, 8192, data, true);
    expect(p).toBe(data); // no copy
    expect([h!.readUInt32BE(0), h!.readUInt16BE(4), h!.readUInt16BE(6), h!.readUInt32BE(16), Number(h!.readBigUInt64BE(20))]).toEqual([
      C.NBD_STRUCTURED_REPLY_MAGIC,
      1,
      C.NBD_REPLY_TYPE_OFFSET_DATA,
      12,
      8192,
    ]);
    const hole = buildReadHole({ mode: 'structured', ...s }, 0, 512, false)[0]!;
    expect([hole.readUInt16BE(4), hole.readUInt16BE(6), hole.readUInt32BE(16), hole.readUInt32BE(28)]).toEqual([0, 2, 12, 512]);
    const err = buildError({ mode: 'structured', ...s }, C.NBD_EIO, 'boom')[0]!;
    expect([err.readUInt16BE(6), err.readUInt32BE(16), err.readUInt32BE(20), err.readUInt16BE(24), err.toString('utf8', 26)]).toEqual([
      C.NBD_REPLY_TYPE_ERROR,
      10,
      C.NBD_EIO,
      4,
      'boom',
    ]);
    expect(buildError({ mode: 'simple', ...s }, C.NBD_EIO, 'x')[0]!.readUInt32BE(4)).toBe(C.NBD_EIO);
    const bs = buildBlockStatus({ mode: 'structured', ...s }, 1, [{ lengthBytes: 512, flags: 3 }], true)[0]!;
    expect([bs.readUInt16BE(6), bs.readUInt32BE(16), bs.readUInt32BE(20), bs.readUInt32BE(24), bs.readUInt32BE(28)]).toEqual([5, 12, 1, 512, 3]);
    const bx = buildBlockStatus({ mode: 'extended', ...s }, 1, [{ lengthBytes: 2 ** 33, flags: 1 }], true)[0]!;
    expect([bx.readUInt16BE(6), Number(bx.readBigUInt64BE(24)), bx.readUInt32BE(32), bx.readUInt32BE(36), Number(bx.readBigUInt64BE(40))]).toEqual([
      6,
      24,
      1,
      1,
      2 ** 33,
    ]);
  });
});

describe('one-buffer read replies (fast path)', () => {
  for (const mode of ['simple', 'structured', 'extended'] as ReplyMode[]) {
    it(`match the two-buffer reply byte for byte (${mode})`, () => {
      const r = { mode, cookie: 0x0102030405060708n, offset: 0x1234n * 512n };
      const data = Buffer.alloc(4096);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      const head = readReplyHeadroom(mode);
      const one = Buffer.alloc(head + data.length, 0xee);
      data.copy(one, head);
      writeReadReplyHead(one, r, 0x1234 * 512, data.length);
      expect(one.equals(Buffer.concat(buildReadData(r, 0x1234 * 512, data, true)))).toBe(true);
    });
  }
});

describe('NBD request framer', () => {
  const limits = { extended: false, maxPayloadBytes: 1024, discardLimitBytes: 4096 };

  it('frames requests fed one byte at a time, payload included', () => {
    const f = new RequestFramer(limits);
    const bytes = Buffer.concat([
      request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 8n, Buffer.from('12345678')),
      request(false, C.NBD_CMD_READ, 0, 2n, 0n, 512n),
    ]);
    const got: unknown[] = [];
    for (const b of bytes) {
      f.push(Buffer.from([b]));
      for (let ev = f.next(); ev; ev = f.next()) got.push(ev);
    }
    expect(got).toHaveLength(2);
    expect(got[0]).toMatchObject({ kind: 'request', req: { header: { type: 1, cookie: 1n }, payloadDiscarded: false } });
    expect((got[0] as { req: { payload: Buffer } }).req.payload.toString()).toBe('12345678');
    expect(got[1]).toMatchObject({ kind: 'request', req: { header: { type: 0, cookie: 2n }, payload: undefined } });
  });

  it('returns payloads inside one chunk without copying', () => {
    const f = new RequestFramer(limits);
    const buf = request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 4n, Buffer.from('abcd'));
    f.push(buf);
    const ev = f.next();
    if (ev?.kind !== 'request') throw new Error('no request');
    expect(ev.req.payload!.buffer).toBe(buf.buffer);
  });

  it('skips oversized compact writes, and disconnects beyond the discard limit', () => {
    const f = new RequestFramer(limits);
    f.push(request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 2048n, Buffer.alloc(2048)));
    f.push(request(false, C.NBD_CMD_FLUSH, 0, 2n, 0n, 0n));
    expect(f.next()).toMatchObject({ kind: 'request', req: { payloadDiscarded: true, payload: undefined } });
    expect(f.next()).toMatchObject({ kind: 'request', req: { header: { cookie: 2n } } });
    const g = new RequestFramer(limits);
    g.push(request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 8192n));
    expect(g.next()).toMatchObject({ kind: 'violation' });
    expect(g.next()).toBeUndefined();
  });

  it('extended: PAYLOAD_LEN decides the payload; over the maximum disconnects', () => {
    const f = new RequestFramer({ ...limits, extended: true });
    f.push(request(true, C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_PAYLOAD_LEN, 1n, 0n, 4n, Buffer.from('wxyz')));
    f.push(request(true, C.NBD_CMD_WRITE_ZEROES, 0, 2n, 0n, 1n << 40n));
    expect(f.next()).toMatchObject({ kind: 'request', req: { header: { cookie: 1n } } });
    expect(f.next()).toMatchObject({ kind: 'request', req: { header: { cookie: 2n }, payload: undefined } });
    f.push(request(true, C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_PAYLOAD_LEN, 3n, 0n, 2048n));
    expect(f.next()).toMatchObject({ kind: 'violation' });
  });

  it('extended: a WRITE without PAYLOAD_LEN still has its data read, so the stream stays in step', () => {
    const f = new RequestFramer({ ...limits, extended: true });
    f.push(request(true, C.NBD_CMD_WRITE, 0, 1n, 0n, 4n, Buffer.from('wxyz')));
    f.push(request(true, C.NBD_CMD_READ, 0, 2n, 0n, 512n));
    expect(f.next()).toMatchObject({ kind: 'request', req: { header: { cookie: 1n }, payload: Buffer.from('wxyz') } });
    expect(f.next()).toMatchObject({ kind: 'request', req: { header: { cookie: 2n }, payload: undefined } });
  });

  it('bad magic is a violation', () => {
    const f = new RequestFramer(limits);
    f.push(Buffer.alloc(28, 0x55));
    expect(f.next()).toMatchObject({ kind: 'violation' });
  });
});
