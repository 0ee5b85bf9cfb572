import { describe, expect, it } from 'vitest';
import { decodeCommand, decodeListing, decodeRaftMessage, encodeCommand, encodeListing, encodeRaftMessage } from '../../../../backends/chunk/chunkserver/codec.js';
import type { Message } from '../../../../backends/chunk/raft/index.js';

const msgs: Message[] = [
  { type: 'AppendEntries', from: 1, to: 2, term: 3, prevIndex: 10, prevTerm: 2, commit: 9, entries: [
    { index: 11, term: 3, type: 'normal', data: new Uint8Array([1, 2, 3]) },
    { index: 12, term: 3, type: 'conf', data: new Uint8Array([0, 0, 0, 0, 4]) },
    { index: 13, term: 3, type: 'normal', data: new Uint8Array(0) },
  ] },
  { type: 'AppendEntriesResp', from: 2, to: 1, term: 3, index: 12, reject: true, hintIndex: 8, hintTerm: 2 },
  { type: 'PreVote', from: 3, to: 1, term: 2 ** 40, lastIndex: 99, lastTerm: 7, transfer: false },
  { type: 'RequestVote', from: 3, to: 1, term: 5, lastIndex: 99, lastTerm: 7, transfer: true },
  { type: 'RequestVoteResp', from: 1, to: 3, term: 5, reject: false },
  { type: 'PreVoteResp', from: 1, to: 3, term: 5, reject: true },
  { type: 'Heartbeat', from: 1, to: 2, term: 3, commit: 12, round: 4, sentTick: 1000 },
  { type: 'HeartbeatResp', from: 2, to: 1, term: 3, round: 4, sentTick: 1000 },
  { type: 'InstallSnapshot', from: 1, to: 4, term: 3, snapshot: { meta: { index: 50, term: 3, conf: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array([9, 9]) } },
  { type: 'TimeoutNow', from: 1, to: 2, term: 3 },
];

describe('chunkserver codecs', () => {
  it('round-trips every Raft message kind', () => {
    for (const m of msgs) expect(decodeRaftMessage(Buffer.concat(encodeRaftMessage(m)))).toEqual(m);
  });

  it('rejects truncated or padded Raft messages', () => {
    const b = Buffer.concat(encodeRaftMessage(msgs[0]!));
    for (const n of [0, 1, 17, b.length - 1]) expect(decodeRaftMessage(b.subarray(0, n))).toBeUndefined();
    expect(decodeRaftMessage(Buffer.concat([b, Buffer.alloc(1)]))).toBeUndefined();
    expect(decodeRaftMessage(Buffer.from([200, 0, 0, 0, 1]))).toBeUndefined();
  });

  it('round-trips copyset commands; a no-op entry is not a command', () => {
    const w = { op: 'write' as const, chunkId: 2 ** 40 + 3, offset: 4096, seq: 2, data: new Uint8Array([5, 6, 7]) };
    const d = decodeCommand(encodeCommand(w));
    expect(d).toMatchObject({ op: 'write', chunkId: w.chunkId, offset: 4096, seq: 2 });
    expect(d?.op === 'write' && [...d.data]).toEqual([5, 6, 7]);
    expect(decodeCommand(encodeCommand({ op: 'delete', chunkId: 9, seq: 1 }))).toEqual({ op: 'delete', chunkId: 9, seq: 1 });
    expect(decodeCommand(new Uint8Array(0))).toBeUndefined();
  });

  it('round-trips snapshot listings', () => {
    const l = { chunkSizeBytes: 65536, chunks: [{ chunkId: 1, chunkSeq: 2, snapshotSeq: 0 }] };
    expect(decodeListing(encodeListing(l))).toEqual(l);
    expect(decodeListing(new Uint8Array(0))).toBeUndefined();
  });
});
