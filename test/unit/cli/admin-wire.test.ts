/** Admin socket framing: decoder units, a seeded fuzz, and a loopback round trip. */
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdminRequest } from '../../../src/mgmt/admin-protocol.js';
import {
  createReplyDecoder, createRequestDecoder, encodeReply, encodeRequest, sendAdminRequest,
} from '../../../src/mgmt/admin-wire.js';

const show: AdminRequest = { kind: 'tgtadm', lld: 'iscsi', mode: 'target', op: 'show' };

describe('request decoder', () => {
  it('decodes messages split at every byte boundary', () => {
    const bytes = Buffer.concat([encodeRequest({ id: 1, request: show }), encodeRequest({ id: 2, request: { kind: 'dump' } })]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = createRequestDecoder();
      const events = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(events).toEqual([
        { type: 'message', message: { id: 1, request: show } },
        { type: 'message', message: { id: 2, request: { kind: 'dump' } } },
      ]);
    }
  });

  it('a bad request body is answerable, not fatal', () => {
    const d = createRequestDecoder();
    const ev = d.push(Buffer.from('{"id":7,"request":{"kind":"tgtadm","lld":"iscsi","mode":"target","op":"show","tid":-1}}\n'));
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'message', message: { id: 7, invalid: { code: 'BG_ERR_INVALID_REQUEST' } } });
    expect(d.isFailed).toBe(false);
    expect(d.push(Buffer.from('{"id":7,"request":{"kind":"tgtadm","lld":"iser","mode":"target","op":"show"}}\n'))[0])
      .toMatchObject({ message: { invalid: { code: 'BG_ERR_NO_DRIVER' } } });
  });

  it('malformed JSON and missing ids are violations; the decoder then stays failed', () => {
    const d = createRequestDecoder();
    expect(d.push(Buffer.from('{nope\n'))).toEqual([{ type: 'violation', violation: expect.objectContaining({ kind: 'malformed-json' }) }]);
    expect(d.push(encodeRequest({ id: 1, request: show }))).toEqual([]);
    const d2 = createRequestDecoder();
    expect(d2.push(Buffer.from('{"request":{}}\n'))[0]).toMatchObject({ violation: { kind: 'bad-envelope' } });
  });

  it('oversized lines are refused before the newline arrives', () => {
    const d = createRequestDecoder(64);
    expect(d.push(Buffer.alloc(40, 0x20))).toEqual([]);
    expect(d.push(Buffer.alloc(40, 0x20))).toEqual([{ type: 'violation', violation: { kind: 'oversized', limit: 64 } }]);
  });

  it('fuzz: random and mutated bytes yield only typed events (seeded)', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const valid = encodeRequest({ id: 3, request: { ...show, tid: 1, params: { a: 'b' } } });
    for (let iter = 0; iter < 2000; iter++) {
      const buf = Buffer.from(valid);
      for (let k = 0; k < 1 + rnd(4); k++) buf[rnd(buf.length)] = rnd(256);
      const d = iter % 2 === 0 ? createRequestDecoder(256) : createReplyDecoder(256);
      let pos = 0;
      while (pos < buf.length) {
        const step = 1 + rnd(16);
        for (const ev of d.push(buf.subarray(pos, pos + step))) {
          expect(['message', 'violation']).toContain(ev.type);
          if (ev.type === 'violation') expect(['oversized', 'malformed-json', 'bad-envelope']).toContain(ev.violation.kind);
        }
        pos += step;
      }
    }
  });
});

describe('sendAdminRequest over a Unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-wire-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round trip with a fake daemon', async () => {
    const path = join(dir, 'a.sock');
    const seen: unknown[] = [];
    const server = createServer((sock) => {
      const dec = createRequestDecoder();
      sock.on('data', (chunk) => {
        for (const ev of dec.push(chunk)) {
          if (ev.type !== 'message' || !('request' in ev.message)) continue;
          seen.push(ev.message.request);
          sock.write(encodeReply({ id: ev.message.id, reply: { ok: true, show: { kind: 'accounts', users: ['u'] } } }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const reply = await sendAdminRequest(path, show, 5000);
      expect(reply).toEqual({ ok: true, show: { kind: 'accounts', users: ['u'] } });
      expect(seen).toEqual([show]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('no daemon → BG_ERR_NO_DAEMON; silent daemon → BG_ERR_TIMEOUT', async () => {
    const missing = await sendAdminRequest(join(dir, 'none.sock'), show, 5000);
    expect(missing).toMatchObject({ ok: false, error: { code: 'BG_ERR_NO_DAEMON' } });
    const path = join(dir, 'silent.sock');
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(path, r));
    try {
      expect(await sendAdminRequest(path, show, 100)).toMatchObject({ ok: false, error: { code: 'BG_ERR_TIMEOUT' } });
    } finally {
      server.close();
    }
  });
});
