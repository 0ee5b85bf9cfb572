/**
 * Fuzzing the NBD front end: the pure engines with random and mutated
 * input (only typed violations may come out), then a live server with
 * random/mutated handshakes and requests for a bounded count; afterwards
 * the server still serves a well-behaved client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDeviceInfo } from '../../src/block/device.js';
import * as C from '../../targets/nbd/constants.js';
import { RequestFramer } from '../../targets/nbd/framer.js';
import { HandshakeEngine } from '../../targets/nbd/handshake.js';
import { validateRequest } from '../../targets/nbd/validate.js';
import { RawConn, clientFlags, infoData, metaData, option, request } from '../helpers/nbd-raw-client.js';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { xorshift32 as rng } from '../helpers/rng.js';

function mutate(r: () => number, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n && out.length; i++) {
    const at = Math.floor(r() * out.length);
    const kind = r();
    if (kind < 0.5) out[at] = Math.floor(r() * 256);
    else if (kind < 0.8) out[at] = out[at]! ^ (1 << Math.floor(r() * 8));
    else out.writeUInt8(0xff, at);
  }
  return r() < 0.2 ? out.subarray(0, Math.floor(r() * out.length)) : out;
}

function randomBytes(r: () => number, max: number): Buffer {
  return Buffer.from(Array.from({ length: Math.floor(r() * max) }, () => Math.floor(r() * 256)));
}

const goodOptions = (): Buffer[] => [
  option(C.NBD_OPT_STRUCTURED_REPLY),
  option(C.NBD_OPT_EXTENDED_HEADERS),
  option(C.NBD_OPT_LIST),
  option(C.NBD_OPT_SET_META_CONTEXT, metaData('fz', ['base:allocation'])),
  option(C.NBD_OPT_LIST_META_CONTEXT, metaData('fz', [])),
  option(C.NBD_OPT_INFO, infoData('fz', [0, 1, 2, 3])),
  option(C.NBD_OPT_GO, infoData('fz', [3])),
  option(C.NBD_OPT_EXPORT_NAME, Buffer.from('fz')),
  option(C.NBD_OPT_STARTTLS),
];

const info: BlockDeviceInfo = {
  sizeBytes: 1 << 20,
  blockSize: 512,
  physicalBlockSize: 4096,
  readOnly: false,
  canDiscard: true,
  canWriteZeroes: true,
  canBlockStatus: true,
  hasVolatileCache: false,
  maxTransferBytes: 1 << 20,
  serial: 'f',
};

describe('NBD engines under fuzzing', () => {
  it('the handshake engine only ever returns actions', () => {
    const r = rng(12345);
    for (let i = 0; i < 3000; i++) {
      const e = new HandshakeEngine({
        exports: {
          list: () => [{ name: 'fz' }],
          lookup: (n) => (n === 'fz' ? { name: 'fz', tid: 1, lun: 0, info, readOnly: false, thinProvisioning: true, tls: 'off' } : undefined),
          defaultExport: () => 'fz',
        },
        tlsMode: r() < 0.5 ? 'on' : 'off',
        maxOptionBytes: 256,
        absurdOptionBytes: 4096,
      });
      e.step({ type: 'start' });
      const opts = goodOptions();
      const parts = [clientFlags(r() < 0.9 ? 3 : Math.floor(r() * 8))];
      for (let k = 0; k < 4; k++) parts.push(r() < 0.3 ? randomBytes(r, 64) : mutate(r, opts[Math.floor(r() * opts.length)]!));
      const all = Buffer.concat(parts);
      let at = 0;
      while (at < all.length && !e.finished) {
        const n = 1 + Math.floor(r() * 40);
        const acts = e.step({ type: 'data', bytes: all.subarray(at, at + n) });
        for (const a of acts) expect(['send', 'close', 'start-tls', 'hand-off']).toContain(a.type);
        if (e.awaitingTls) e.step({ type: 'tls-established' });
        at += n;
      }
    }
  });

  it('the framer and validation only ever return requests, errors or violations', () => {
    const r = rng(777);
    for (let i = 0; i < 2000; i++) {
      const extended = r() < 0.5;
      const f = new RequestFramer({ extended, maxPayloadBytes: 4096, discardLimitBytes: 8192 });
      const base = request(extended, Math.floor(r() * 10), Math.floor(r() * 64), 1n, BigInt(Math.floor(r() * 2 ** 21)), BigInt(Math.floor(r() * 8192)));
      f.push(r() < 0.7 ? mutate(r, base) : randomBytes(r, 100));
      f.push(randomBytes(r, 5000));
      for (let ev = f.next(), n = 0; ev && n < 100; ev = f.next(), n++) {
        if (ev.kind === 'violation') break;
        const v = validateRequest(ev.req.header, ev.req.payload, ev.req.payloadDiscarded, {
          transmissionFlags: 0x1fff & ~C.NBD_FLAG_READ_ONLY,
          sizeBytes: 1 << 20,
          minBlockBytes: 512,
          maxPayloadBytes: 4096,
          replyMode: extended ? 'extended' : 'structured',
          metaContextIds: [1],
        });
        expect(typeof v.ok).toBe('boolean');
      }
    }
  });
});

describe('NBD live server under fuzzing', () => {
  let s: Standalone;
  beforeAll(async () => {
    s = await startStandalone({ exports: [{ name: 'fz', sizeBytes: 1 << 20 }], handshakeTimeoutMs: 2000 });
  });
  afterAll(async () => s.close());

  async function fire(bytes: Buffer[]): Promise<void> {
    const c = await RawConn.connect(s.port);
    for (const b of bytes) c.write(b);
    await c.closed(150);
    c.close();
  }

  it('survives random and mutated handshakes and requests, and keeps serving', async () => {
    const r = rng(4242);
    const opts = goodOptions().filter((_, i) => i !== 8);
    for (let i = 0; i < 60; i++) {
      const handshake = [clientFlags(3), ...Array.from({ length: 3 }, () => mutate(r, opts[Math.floor(r() * opts.length)]!))];
      if (i % 3 === 0) await fire([randomBytes(r, 200)]);
      else if (i % 3 === 1) await fire(handshake);
      else {
        // A valid GO, then mutated requests in transmission.
        const reqs = Array.from({ length: 8 }, () =>
          mutate(r, request(false, Math.floor(r() * 8), 0, BigInt(i), BigInt(Math.floor(r() * 2048) * 512), 4096n, Buffer.alloc(4096))),
        );
        await fire([clientFlags(3), option(C.NBD_OPT_STRUCTURED_REPLY), option(C.NBD_OPT_GO, infoData('fz')), ...reqs]);
      }
    }
    const c = await RawConn.connect(s.port);
    await c.handshake();
    c.write(option(C.NBD_OPT_GO, infoData('fz')));
    while ((await c.optReply()).type !== C.NBD_REP_ACK);
    c.write(request(false, C.NBD_CMD_WRITE, 0, 1n, 0n, 512n, Buffer.alloc(512, 0x61)));
    expect((await c.reply()).error).toBe(0);
    c.write(request(false, C.NBD_CMD_READ, 0, 2n, 0n, 512n));
    expect((await c.reply(512)).payload.every((b) => b === 0x61)).toBe(true);
    c.close();
    // Every fuzzing connection ended: none is stuck in option haggling beyond the timeout.
    const deadline = Date.now() + 4000;
    while (s.server.handshakesInProgress > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(s.server.handshakesInProgress).toBe(0);
  }, 60_000);
});
