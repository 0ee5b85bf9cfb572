import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeFrame, FLAG_ONEWAY, FLAG_RESPONSE, Framer, HEADER_BYTES, isFrameViolation, type Frame } from '../../../../backends/chunk/proto/frame.js';
import { mulberry32 } from '../../../../backends/chunk/raft/prng.js';

const cat = (parts: Buffer[]): Buffer => Buffer.concat(parts);

describe('frame codec', () => {
  it('round-trips header fields and body through the framer', () => {
    const wire = cat(encodeFrame({ flags: FLAG_RESPONSE, type: 101, requestId: 2 ** 40 + 7 }, [Buffer.from('ab'), Buffer.from('cde')]));
    expect(wire.length).toBe(HEADER_BYTES + 5);
    const [f] = new Framer().push(wire) as Frame[];
    expect(f).toMatchObject({ flags: FLAG_RESPONSE, type: 101, requestId: 2 ** 40 + 7, bodyLength: 5 });
    expect(f!.body.toString()).toBe('abcde');
  });

  it('reassembles frames split at every byte boundary', () => {
    const wire = cat([
      ...encodeFrame({ flags: 0, type: 1, requestId: 1 }, [Buffer.alloc(100, 7)]),
      ...encodeFrame({ flags: FLAG_ONEWAY, type: 20, requestId: 0 }, []),
      ...encodeFrame({ flags: 0, type: 2, requestId: 3 }, [Buffer.from('x')]),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const fr = new Framer();
      const got = [...fr.push(wire.subarray(0, cut)), ...fr.push(wire.subarray(cut))] as Frame[];
      expect(got.map((f) => f.requestId)).toEqual([1, 0, 3]);
      expect(got[0]!.body.equals(Buffer.alloc(100, 7))).toBe(true);
      expect(fr.pendingBytes).toBe(0);
    }
  });

  it('reports typed violations and stays dead afterwards', () => {
    const good = cat(encodeFrame({ flags: 0, type: 1, requestId: 1 }, [Buffer.from('hello')]));
    const badCrc = Buffer.from(good);
    badCrc[HEADER_BYTES] ^= 1;
    const fr = new Framer();
    expect(fr.push(badCrc)).toEqual([expect.objectContaining({ violation: 'BAD_CRC' })]);
    expect(fr.push(good)).toEqual([expect.objectContaining({ violation: 'BAD_CRC' })]);
    const badMagic = Buffer.from(good);
    badMagic[0] = 0;
    expect(decodeHeader(badMagic)).toMatchObject({ violation: 'BAD_MAGIC' });
    const badVersion = Buffer.from(good);
    badVersion[4] = 9;
    expect(decodeHeader(badVersion)).toMatchObject({ violation: 'BAD_VERSION' });
    expect(new Framer(4).push(good)).toEqual([expect.objectContaining({ violation: 'BODY_TOO_LARGE' })]);
    const bigId = Buffer.from(good);
    bigId.writeBigUInt64BE(2n ** 60n, 8);
    expect(decodeHeader(bigId)).toMatchObject({ violation: 'BAD_REQUEST_ID' });
  });

  it('fuzz: random and mutated bytes only ever yield frames or violations', () => {
    const rnd = mulberry32(1234);
    const base = cat(encodeFrame({ flags: 0, type: 1, requestId: 9 }, [Buffer.alloc(64, 3)]));
    let violations = 0;
    for (let i = 0; i < 2000; i++) {
      const buf = i % 2 === 0 ? Buffer.from(base) : Buffer.alloc(Math.floor(rnd() * 80));
      for (let k = 0; k < buf.length; k++) if (i % 2 === 1 || rnd() < 0.05) buf[k] = Math.floor(rnd() * 256);
      const out = new Framer(1024).push(buf);
      for (const x of out) {
        if (isFrameViolation(x)) violations++;
        else expect(x.body.length).toBe(x.bodyLength);
      }
    }
    expect(violations).toBeGreaterThan(100);
  });
});
