import { describe, expect, it } from 'vitest';
import {
  chunkResponse, decodeChunkRequest, decodeChunkResponse, decodeErrorBody, decodeRaftEnvelope,
  encodeChunkRequest, encodeChunkResponse, encodeErrorBody, encodeRaftEnvelope, isChunkViolation, type ChunkOp,
} from '../../../../backends/chunk/proto/chunk.js';
import { decodeJsonBody, MSG, MSG_CODEC } from '../../../../backends/chunk/proto/messages.js';
import { STATUS, statusName } from '../../../../backends/chunk/proto/status.js';
import { mulberry32 } from '../../../../backends/chunk/raft/prng.js';

const cat = (parts: Buffer[]): Buffer => Buffer.concat(parts);

describe('chunk message codecs', () => {
  it('round-trips a WriteChunk with its raw payload (no copy of the data part)', () => {
    const data = Buffer.from('payload-bytes');
    const parts = encodeChunkRequest({ copysetId: 7, chunkId: 2 ** 50, offset: 4096, length: data.length, seq: 3, data });
    expect(parts[1]).toBe(data);
    const r = decodeChunkRequest('write', cat(parts));
    expect(r).toMatchObject({ copysetId: 7, chunkId: 2 ** 50, offset: 4096, length: data.length, seq: 3 });
    expect(isChunkViolation(r) ? '' : r.data!.toString()).toBe('payload-bytes');
  });

  it('validates lengths per op', () => {
    const read = cat(encodeChunkRequest({ copysetId: 1, chunkId: 1, offset: 0, length: 512, seq: 0 }));
    expect(decodeChunkRequest('read', read)).toMatchObject({ length: 512 });
    expect(decodeChunkRequest('write', read)).toMatchObject({ violation: 'BAD_LENGTH' });
    expect(decodeChunkRequest('delete', read)).toMatchObject({ violation: 'BAD_LENGTH' });
    const zero = cat(encodeChunkRequest({ copysetId: 1, chunkId: 1, offset: 0, length: 0, seq: 0 }));
    expect(decodeChunkRequest('read', zero)).toMatchObject({ violation: 'BAD_LENGTH' });
    expect(decodeChunkRequest('info', zero)).toMatchObject({ chunkId: 1 });
    expect(decodeChunkRequest('info', Buffer.alloc(3))).toMatchObject({ violation: 'SHORT_BODY' });
    const huge = Buffer.from(zero);
    huge.writeBigUInt64BE(2n ** 63n, 4);
    expect(decodeChunkRequest('info', huge)).toMatchObject({ violation: 'OUT_OF_RANGE' });
    const wrap = cat(encodeChunkRequest({ copysetId: 1, chunkId: 1, offset: 0xffffffff, length: 2, seq: 0 }));
    expect(decodeChunkRequest('read', wrap)).toMatchObject({ violation: 'OUT_OF_RANGE' });
  });

  it('round-trips responses: NOT_LEADER hint, read data, chunk info', () => {
    const nl = decodeChunkResponse(cat(encodeChunkResponse(chunkResponse(STATUS.NOT_LEADER, { leaderHintId: 4, leaderHint: '127.0.0.1:9000' }))));
    expect(nl).toMatchObject({ status: STATUS.NOT_LEADER, leaderHintId: 4, leaderHint: '127.0.0.1:9000' });
    const rd = decodeChunkResponse(cat(encodeChunkResponse(chunkResponse(STATUS.OK, { data: Buffer.from('xyz') }))));
    expect(isChunkViolation(rd) ? '' : rd.data?.toString()).toBe('xyz');
    const info = decodeChunkResponse(cat(encodeChunkResponse(chunkResponse(STATUS.OK, { chunkSeq: 5, snapshotSeq: 4 }))));
    expect(info).toMatchObject({ chunkSeq: 5, snapshotSeq: 4, leaderHint: '' });
    const bad = cat(encodeChunkResponse(chunkResponse(STATUS.OK)));
    bad.writeUInt16BE(999, 0);
    expect(decodeChunkResponse(bad)).toMatchObject({ violation: 'BAD_STATUS' });
  });

  it('round-trips the Raft envelope and error bodies', () => {
    const env = decodeRaftEnvelope(cat(encodeRaftEnvelope({ groupId: 42, payload: Buffer.from([1, 2, 3]) })));
    expect(env).toMatchObject({ groupId: 42 });
    expect(isChunkViolation(env) ? [] : [...env.payload]).toEqual([1, 2, 3]);
    expect(decodeErrorBody(cat(encodeErrorBody(STATUS.OVERLOAD, 'busy')))).toEqual({ status: STATUS.OVERLOAD, message: 'busy' });
  });

  it('has one codec per message type and names for every status', () => {
    for (const name of Object.keys(MSG)) expect(MSG_CODEC[name as keyof typeof MSG]).toBeDefined();
    expect(new Set(Object.values(MSG)).size).toBe(Object.keys(MSG).length);
    expect(statusName(STATUS.CHUNK_NOT_EXIST)).toBe('CHUNK_NOT_EXIST');
    expect(decodeJsonBody(Buffer.from('[1]'))).toMatchObject({ violation: 'BAD_JSON' });
    expect(decodeJsonBody(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
  });

  it('fuzz: decoders return values or typed violations, never throw', () => {
    const rnd = mulberry32(99);
    const ops: ChunkOp[] = ['write', 'read', 'delete', 'info'];
    let violations = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.alloc(Math.floor(rnd() * 64));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      const results = [decodeChunkRequest(ops[i % 4]!, b), decodeChunkResponse(b), decodeRaftEnvelope(b), decodeJsonBody(b)];
      violations += results.filter((r) => 'violation' in r).length;
    }
    expect(violations).toBeGreaterThan(3000);
  });
});
