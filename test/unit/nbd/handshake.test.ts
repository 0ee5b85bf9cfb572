import { describe, expect, it } from 'vitest';
import type { BlockDeviceInfo } from '../../../src/block/device.js';
import * as C from '../../../targets/nbd/constants.js';
import type { NbdExportEntry } from '../../../targets/nbd/export.js';
import { HandshakeEngine, type HandshakeAction, type HandshakeConfig } from '../../../targets/nbd/handshake.js';
import { clientFlags, infoData, metaData, option, parseOptReplies, type OptReply } from '../../helpers/nbd-raw-client.js';

const info = (over: Partial<BlockDeviceInfo> = {}): BlockDeviceInfo => ({
  sizeBytes: 1 << 20,
  blockSize: 512,
  physicalBlockSize: 4096,
  readOnly: false,
  canDiscard: true,
  canWriteZeroes: true,
  canBlockStatus: true,
  hasVolatileCache: false,
  maxTransferBytes: 32 << 20,
  serial: 's',
  ...over,
});

const entries: Record<string, NbdExportEntry> = {
  disk: { name: 'disk', tid: 7, lun: 1, info: info(), readOnly: false, thinProvisioning: true, description: 'a disk', tls: 'off' },
  ro: { name: 'ro', tid: 7, lun: 2, info: info(), readOnly: true, thinProvisioning: true, tls: 'on' },
  secret: { name: 'secret', tid: 8, lun: 1, info: info(), readOnly: false, thinProvisioning: false, tls: 'require' },
  strict: { name: 'strict', tid: 8, lun: 2, info: info({ blockSize: 4096 }), readOnly: false, thinProvisioning: true, tls: 'off', blockSizeRequired: true },
};

function engine(over: Partial<HandshakeConfig> = {}, defaultExport: string | null = 'disk'): HandshakeEngine {
  return new HandshakeEngine({
    exports: {
      list: () => Object.values(entries).map((e) => ({ name: e.name, description: e.description })),
      lookup: (n) => entries[n],
      defaultExport: () => defaultExport ?? undefined,
    },
    tlsMode: 'on',
    ...over,
  });
}

/** Start, send client flags, return engine ready for options. */
function started(flags = 3, over: Partial<HandshakeConfig> = {}, def: string | null = 'disk'): HandshakeEngine {
  const e = engine(over, def);
  const g = e.step({ type: 'start' });
  expect(g).toHaveLength(1);
  const bytes = (g[0] as { bytes: Buffer }).bytes;
  expect(bytes.toString('latin1', 0, 16)).toBe('NBDMAGICIHAVEOPT');
  expect(bytes.readUInt16BE(16)).toBe(C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES);
  expect(e.step({ type: 'data', bytes: clientFlags(flags) })).toEqual([]);
  return e;
}

function sent(actions: HandshakeAction[]): OptReply[] {
  const bytes = Buffer.concat(actions.flatMap((a) => (a.type === 'send' ? [a.bytes] : [])));
  const { replies, rest } = parseOptReplies(bytes);
  expect(rest.length).toBe(0);
  return replies;
}

const types = (rs: OptReply[]): number[] => rs.map((r) => r.type);

describe('NBD handshake engine', () => {
  it('refuses non-fixed newstyle and unknown client flags', () => {
    for (const flags of [0, 2, 4, 0x80000001]) {
      const e = engine();
      e.step({ type: 'start' });
      const a = e.step({ type: 'data', bytes: clientFlags(flags) });
      expect(a).toEqual([expect.objectContaining({ type: 'close', level: 'warn' })]);
      expect(e.finished).toBe(true);
    }
  });

  it('answers unknown options with NBD_REP_ERR_UNSUP and keeps parsing', () => {
    const e = started();
    const a = e.step({ type: 'data', bytes: Buffer.concat([option(4, Buffer.from('x')), option(999), option(C.NBD_OPT_LIST)]) });
    const rs = sent(a);
    expect(types(rs)).toEqual([C.NBD_REP_ERR_UNSUP, C.NBD_REP_ERR_UNSUP, C.NBD_REP_SERVER, C.NBD_REP_SERVER, C.NBD_REP_SERVER, C.NBD_REP_ACK]);
  });

  it('accepts options split across many data inputs', () => {
    const e = started();
    const all = option(C.NBD_OPT_STRUCTURED_REPLY);
    const acts: HandshakeAction[] = [];
    for (const byte of all) acts.push(...e.step({ type: 'data', bytes: Buffer.from([byte]) }));
    expect(types(sent(acts))).toEqual([C.NBD_REP_ACK]);
  });

  it('NBD_OPT_LIST lists exports with descriptions, hiding TLS-only ones before TLS', () => {
    const e = started();
    const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST) }));
    const names = rs.filter((r) => r.type === C.NBD_REP_SERVER).map((r) => r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));
    expect(names).toEqual(['disk', 'ro', 'strict']);
    const disk = rs[0]!.data;
    expect(disk.toString('utf8', 4 + 4)).toBe('a disk');
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST, Buffer.from('x')) })))).toEqual([C.NBD_REP_ERR_INVALID]);
  });

  it('NBD_OPT_ABORT is acknowledged, then the connection closes', () => {
    const e = started();
    const a = e.step({ type: 'data', bytes: option(C.NBD_OPT_ABORT, Buffer.from('ignored')) });
    expect(types(sent(a))).toEqual([C.NBD_REP_ACK]);
    expect(a[a.length - 1]).toMatchObject({ type: 'close', level: 'info' });
  });

  it('NBD_OPT_INFO returns EXPORT, NAME, DESCRIPTION and BLOCK_SIZE then ACK', () => {
    const e = started();
    const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_INFO, infoData('disk', [1, 2, 3, 77])) }));
    expect(types(rs)).toEqual([C.NBD_REP_INFO, C.NBD_REP_INFO, C.NBD_REP_INFO, C.NBD_REP_INFO, C.NBD_REP_ACK]);
    const exp = rs[0]!.data;
    expect(exp.readUInt16BE(0)).toBe(C.NBD_INFO_EXPORT);
    expect(exp.readBigUInt64BE(2)).toBe(1n << 20n);
    const flags = exp.readUInt16BE(10);
    expect(flags & C.NBD_FLAG_HAS_FLAGS).toBeTruthy();
    expect(flags & C.NBD_FLAG_SEND_TRIM).toBeTruthy();
    expect(flags & C.NBD_FLAG_READ_ONLY).toBe(0);
    expect(flags & C.NBD_FLAG_SEND_DF).toBe(0); // no structured replies yet
    expect(flags & C.NBD_FLAG_ROTATIONAL).toBe(0);
    expect(rs[1]!.data.toString('utf8', 2)).toBe('disk');
    expect(rs[2]!.data.toString('utf8', 2)).toBe('a disk');
    const bs = rs[3]!.data;
    expect([bs.readUInt16BE(0), bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)]).toEqual([3, 512, 4096, 32 << 20]);
  });

  it('read-only exports advertise READ_ONLY and no write features', () => {
    const e = started();
    const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_INFO, infoData('ro')) }));
    const flags = rs[0]!.data.readUInt16BE(10);
    expect(flags & C.NBD_FLAG_READ_ONLY).toBeTruthy();
    expect(flags & (C.NBD_FLAG_SEND_TRIM | C.NBD_FLAG_SEND_WRITE_ZEROES | C.NBD_FLAG_SEND_FUA)).toBe(0);
  });

  it('INFO/GO errors: unknown export, malformed data, no default export', () => {
    const e = started(3, {}, null);
    const bad = Buffer.from([0, 0, 0, 9, 1]);
    const a = e.step({
      type: 'data',
      bytes: Buffer.concat([option(C.NBD_OPT_INFO, infoData('nope')), option(C.NBD_OPT_GO, bad), option(C.NBD_OPT_GO, infoData(''))]),
    });
    expect(types(sent(a))).toEqual([C.NBD_REP_ERR_UNKNOWN, C.NBD_REP_ERR_INVALID, C.NBD_REP_ERR_UNKNOWN]);
    expect(e.finished).toBe(false);
  });

  it('TLS-only exports get NBD_REP_ERR_TLS_REQD before STARTTLS, and POLICY on a server without TLS', () => {
    expect(types(sent(started().step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('secret')) })))).toEqual([C.NBD_REP_ERR_TLS_REQD]);
    const notls = started(3, { tlsMode: 'off' });
    expect(types(sent(notls.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('secret')) })))).toEqual([C.NBD_REP_ERR_POLICY]);
    expect(types(sent(notls.step({ type: 'data', bytes: option(C.NBD_OPT_STARTTLS) })))).toEqual([C.NBD_REP_ERR_POLICY]);
  });

  it('FORCEDTLS: every option but STARTTLS/ABORT needs TLS; EXPORT_NAME disconnects', () => {
    const e = started(3, { tlsMode: 'require' });
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST) })))).toEqual([C.NBD_REP_ERR_TLS_REQD]);
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) })))).toEqual([C.NBD_REP_ERR_TLS_REQD]);
    const a = e.step({ type: 'data', bytes: option(C.NBD_OPT_EXPORT_NAME, Buffer.from('disk')) });
    expect(a).toEqual([expect.objectContaining({ type: 'close' })]);
  });

  it('STARTTLS: ACK, start-tls, state reset, then options over TLS; a second STARTTLS is invalid', () => {
    const e = started();
    e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) });
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_STARTTLS, Buffer.from('x')) })))).toEqual([C.NBD_REP_ERR_INVALID]);
    const a = e.step({ type: 'data', bytes: option(C.NBD_OPT_STARTTLS) });
    expect(types(sent(a))).toEqual([C.NBD_REP_ACK]);
    expect(a[a.length - 1]).toEqual({ type: 'start-tls' });
    expect(e.awaitingTls).toBe(true);
    expect(e.step({ type: 'tls-established' })).toEqual([]);
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_STARTTLS) })))).toEqual([C.NBD_REP_ERR_INVALID]);
    // Structured replies were forgotten by STARTTLS, so this is a fresh ACK.
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) })))).toEqual([C.NBD_REP_ACK]);
    const go = e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('secret')) });
    const h = go.find((x) => x.type === 'hand-off');
    expect(h).toMatchObject({ state: { tls: true, replyMode: 'structured', tid: 8, lun: 1 } });
  });

  it('bytes pipelined after STARTTLS before the TLS handshake are a violation', () => {
    const e = started();
    const a = e.step({ type: 'data', bytes: Buffer.concat([option(C.NBD_OPT_STARTTLS), option(C.NBD_OPT_LIST)]) });
    expect(a.map((x) => x.type)).toEqual(['send', 'start-tls', 'close']);
  });

  it('STRUCTURED_REPLY / EXTENDED_HEADERS: ACK once, INVALID on repeat, EXT_HEADER_REQD after extended', () => {
    const e = started();
    const run = (opt: number, data?: Buffer) => types(sent(e.step({ type: 'data', bytes: option(opt, data) })));
    expect(run(C.NBD_OPT_STRUCTURED_REPLY, Buffer.from('x'))).toEqual([C.NBD_REP_ERR_INVALID]);
    expect(run(C.NBD_OPT_STRUCTURED_REPLY)).toEqual([C.NBD_REP_ACK]);
    expect(run(C.NBD_OPT_STRUCTURED_REPLY)).toEqual([C.NBD_REP_ERR_INVALID]);
    expect(run(C.NBD_OPT_EXTENDED_HEADERS, Buffer.from('x'))).toEqual([C.NBD_REP_ERR_INVALID]);
    expect(run(C.NBD_OPT_EXTENDED_HEADERS)).toEqual([C.NBD_REP_ACK]);
    expect(run(C.NBD_OPT_EXTENDED_HEADERS)).toEqual([C.NBD_REP_ERR_INVALID]);
    const e2 = started();
    e2.step({ type: 'data', bytes: option(C.NBD_OPT_EXTENDED_HEADERS) });
    expect(types(sent(e2.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) })))).toEqual([C.NBD_REP_ERR_EXT_HEADER_REQD]);
  });

  it('META_CONTEXT needs reply chunks first', () => {
    const e = started();
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_SET_META_CONTEXT, metaData('disk', ['base:allocation'])) })))).toEqual([
      C.NBD_REP_ERR_INVALID,
    ]);
  });

  it('LIST_META_CONTEXT: no query and base: list base:allocation; unknown namespaces are ignored', () => {
    const e = started();
    e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) });
    for (const q of [[], ['base:'], ['base:allocation', 'qemu:dirty-bitmap:x']]) {
      const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST_META_CONTEXT, metaData('disk', q)) }));
      expect(types(rs)).toEqual([C.NBD_REP_META_CONTEXT, C.NBD_REP_ACK]);
      expect(rs[0]!.data.readUInt32BE(0)).toBe(0);
      expect(rs[0]!.data.toString('utf8', 4)).toBe('base:allocation');
    }
    const none = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST_META_CONTEXT, metaData('disk', ['x-foo:bar', 'base:nothing'])) }));
    expect(types(none)).toEqual([C.NBD_REP_ACK]);
    const bad = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST_META_CONTEXT, metaData('disk', ['nocolon'])) }));
    expect(types(bad)).toEqual([C.NBD_REP_ERR_INVALID]);
    const unknown = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST_META_CONTEXT, metaData('nope', [])) }));
    expect(types(unknown)).toEqual([C.NBD_REP_ERR_UNKNOWN]);
    const truncated = metaData('disk', ['base:allocation']).subarray(0, 20);
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST_META_CONTEXT, truncated) })))).toEqual([C.NBD_REP_ERR_INVALID]);
  });

  it('too many META_CONTEXT queries gives NBD_REP_ERR_TOO_BIG', () => {
    const e = started();
    e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) });
    const qs = Array.from({ length: 200 }, () => 'base:allocation');
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_SET_META_CONTEXT, metaData('disk', qs)) })))).toEqual([C.NBD_REP_ERR_TOO_BIG]);
  });

  it('SET_META_CONTEXT selects base:allocation with an id that GO carries for the same export only', () => {
    const e = started();
    e.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) });
    const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_SET_META_CONTEXT, metaData('disk', ['base:', 'base:allocation'])) }));
    expect(types(rs)).toEqual([C.NBD_REP_META_CONTEXT, C.NBD_REP_ACK]);
    const id = rs[0]!.data.readUInt32BE(0);
    expect(id).toBe(C.BASE_ALLOCATION_ID);
    const go = e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('disk')) });
    const h = go.find((x) => x.type === 'hand-off');
    expect(h).toMatchObject({ state: { metaContextIds: [id], replyMode: 'structured', exportName: 'disk' } });
    const flags = sent(go)[0]!.data.readUInt16BE(10);
    expect(flags & C.NBD_FLAG_SEND_DF).toBeTruthy();

    const e2 = started();
    e2.step({ type: 'data', bytes: option(C.NBD_OPT_STRUCTURED_REPLY) });
    e2.step({ type: 'data', bytes: option(C.NBD_OPT_SET_META_CONTEXT, metaData('ro', ['base:allocation'])) });
    const go2 = e2.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('disk')) });
    expect(go2.find((x) => x.type === 'hand-off')).toMatchObject({ state: { metaContextIds: [] } });
  });

  it('GO hands off with the ACK as final reply and leftover bytes', () => {
    const e = started();
    const extra = Buffer.from('request-bytes');
    const a = e.step({ type: 'data', bytes: Buffer.concat([option(C.NBD_OPT_GO, infoData('')), extra]) });
    const h = a.find((x) => x.type === 'hand-off');
    if (h?.type !== 'hand-off') throw new Error('no hand-off');
    expect(h.leftover.equals(extra)).toBe(true);
    expect(h.entry.name).toBe('disk');
    const fin = parseOptReplies(Buffer.from(h.state.finalReply)).replies;
    expect(types(fin)).toEqual([C.NBD_REP_ACK]);
    expect(fin[0]!.option).toBe(C.NBD_OPT_GO);
    expect(structuredClone(h.state)).toEqual(h.state);
    expect(e.step({ type: 'data', bytes: option(C.NBD_OPT_LIST) })).toEqual([]);
  });

  it('BLOCK_SIZE_REQD: GO without NBD_INFO_BLOCK_SIZE is refused after the sizes are sent; INFO is fine', () => {
    const e = started();
    const rs = sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('strict')) }));
    expect(types(rs)).toEqual([C.NBD_REP_INFO, C.NBD_REP_ERR_BLOCK_SIZE_REQD]);
    expect(rs[0]!.data.readUInt32BE(2)).toBe(4096);
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_INFO, infoData('strict')) }))).pop()).toBe(C.NBD_REP_ACK);
    const go = e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('strict', [C.NBD_INFO_BLOCK_SIZE])) });
    expect(go.some((x) => x.type === 'hand-off')).toBe(true);
  });

  it('EXPORT_NAME: reply with 124 zero bytes unless NO_ZEROES; unknown export disconnects', () => {
    for (const [flags, len] of [
      [1, 134],
      [3, 10],
    ] as const) {
      const e = started(flags);
      const a = e.step({ type: 'data', bytes: option(C.NBD_OPT_EXPORT_NAME, Buffer.from('disk')) });
      expect(a).toHaveLength(1);
      const h = a[0]!;
      if (h.type !== 'hand-off') throw new Error('no hand-off');
      expect(h.state.finalReply.length).toBe(len);
      expect(Buffer.from(h.state.finalReply).readBigUInt64BE(0)).toBe(1n << 20n);
      expect(h.state.noZeroes).toBe(flags === 3);
    }
    const e = started();
    expect(e.step({ type: 'data', bytes: option(C.NBD_OPT_EXPORT_NAME, Buffer.from('nope')) })).toEqual([
      expect.objectContaining({ type: 'close' }),
    ]);
    const ext = started();
    ext.step({ type: 'data', bytes: option(C.NBD_OPT_EXTENDED_HEADERS) });
    expect(ext.step({ type: 'data', bytes: option(C.NBD_OPT_EXPORT_NAME, Buffer.from('disk')) })).toEqual([
      expect.objectContaining({ type: 'close' }),
    ]);
  });

  it('extended headers: GO state says extended and BLOCK_STATUS_PAYLOAD is advertised with contexts', () => {
    const e = started();
    e.step({ type: 'data', bytes: option(C.NBD_OPT_EXTENDED_HEADERS) });
    e.step({ type: 'data', bytes: option(C.NBD_OPT_SET_META_CONTEXT, metaData('disk', ['base:allocation'])) });
    const go = e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('disk')) });
    const h = go.find((x) => x.type === 'hand-off');
    if (h?.type !== 'hand-off') throw new Error('no hand-off');
    expect(h.state.replyMode).toBe('extended');
    expect(h.state.transmissionFlags & C.NBD_FLAG_BLOCK_STATUS_PAYLOAD).toBeTruthy();
  });

  it('oversized options get NBD_REP_ERR_TOO_BIG; absurd ones disconnect', () => {
    const e = started(3, { maxOptionBytes: 100, absurdOptionBytes: 1000 });
    const big = option(C.NBD_OPT_INFO, Buffer.alloc(500));
    const a = e.step({ type: 'data', bytes: big.subarray(0, 300) });
    expect(a).toEqual([]);
    expect(types(sent(e.step({ type: 'data', bytes: Buffer.concat([big.subarray(300), option(C.NBD_OPT_LIST)]) })))).toEqual([
      C.NBD_REP_ERR_TOO_BIG,
      C.NBD_REP_SERVER,
      C.NBD_REP_SERVER,
      C.NBD_REP_SERVER,
      C.NBD_REP_ACK,
    ]);
    const hdr = option(C.NBD_OPT_INFO).subarray(0, 16);
    hdr.writeUInt32BE(5000, 12);
    expect(e.step({ type: 'data', bytes: hdr })).toEqual([expect.objectContaining({ type: 'close', level: 'warn' })]);
  });

  it('bad option magic disconnects; too many options disconnect', () => {
    const e = started();
    expect(e.step({ type: 'data', bytes: Buffer.alloc(16, 0x41) })).toEqual([expect.objectContaining({ type: 'close' })]);
    const f = started(3, { maxOptions: 3 });
    const a = f.step({ type: 'data', bytes: Buffer.concat(Array.from({ length: 4 }, () => option(999))) });
    expect(types(sent(a))).toEqual([C.NBD_REP_ERR_UNSUP, C.NBD_REP_ERR_UNSUP, C.NBD_REP_ERR_UNSUP]);
    expect(a[a.length - 1]).toMatchObject({ type: 'close' });
  });

  it('after shutdown, options get NBD_REP_ERR_SHUTDOWN except ABORT', () => {
    const e = started();
    e.step({ type: 'shutdown' });
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_GO, infoData('disk')) })))).toEqual([C.NBD_REP_ERR_SHUTDOWN]);
    expect(types(sent(e.step({ type: 'data', bytes: option(C.NBD_OPT_ABORT) })))).toEqual([C.NBD_REP_ACK]);
  });
});
