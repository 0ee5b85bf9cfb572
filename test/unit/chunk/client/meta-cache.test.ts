import { describe, expect, it } from 'vitest';
import { MetaCache } from '../../../../backends/chunk/client/meta-cache.js';

const seg = { index: 0, offsetBytes: 0, lengthBytes: 65536, chunkSizeBytes: 16384, chunks: [{ chunkId: 1, copysetId: 7 }] };
const members = [
  { id: 1, address: 'a:1', zone: 'z1' },
  { id: 2, address: 'b:2', zone: 'z2' },
  { id: 3, address: 'c:3', zone: 'z3' },
];

describe('MetaCache', () => {
  it('keeps allocated segments and forgets holes after the TTL', () => {
    const c = new MetaCache(100);
    expect(c.segment(0, 0)).toBeUndefined();
    c.putSegment(1, null, 0);
    expect(c.segment(1, 50)).toBeNull();
    expect(c.segment(1, 100)).toBeUndefined();
    c.putSegment(0, seg, 0);
    expect(c.segment(0, 1e9)).toEqual(seg);
  });

  it('never replaces an allocated segment with a stale hole', () => {
    const c = new MetaCache(100);
    c.putSegment(0, seg, 0);
    c.putSegment(0, null, 10);
    expect(c.segment(0, 20)).toEqual(seg);
  });

  it('targets the MDS-reported leader, else the first member', () => {
    const c = new MetaCache();
    c.putCopysets([{ copysetId: 7, members, leaderId: 2, term: 1 }, { copysetId: 8, members, leaderId: 0, term: 0 }], 0);
    expect(c.target(7)).toBe('b:2');
    expect(c.target(8)).toBe('a:1');
  });

  it('follows NOT_LEADER hints, learning unknown members', () => {
    const c = new MetaCache();
    c.putCopysets([{ copysetId: 7, members, leaderId: 1, term: 1 }], 0);
    expect(c.noteNotLeader(7, 'a:1', 'c:3', 3, 0)).toBe(true);
    expect(c.target(7)).toBe('c:3');
    c.noteNotLeader(7, 'c:3', 'd:4', 4, 0);
    expect(c.target(7)).toBe('d:4');
    expect(c.members(7).map((m) => m.id)).toEqual([1, 2, 3, 4]);
  });

  it('rotates through members and drops the copyset after a full round', () => {
    const c = new MetaCache();
    c.putCopysets([{ copysetId: 7, members, leaderId: 1, term: 1 }], 0);
    c.noteWrongMember(7, 'a:1', 0);
    expect(c.target(7)).toBe('b:2');
    expect(c.noteWrongMember(7, 'a:1', 0)).toBe(false); // stale report from a piece that raced
    c.noteNotLeader(7, 'b:2', '', 0, 0); // no hint: same as a wrong member
    expect(c.target(7)).toBe('c:3');
    c.noteWrongMember(7, 'c:3', 0);
    expect(c.hasCopyset(7)).toBe(false);
    expect(c.target(7)).toBeUndefined();
  });

  it('avoids an unreachable chunkserver in every copyset until suspectMs passed', () => {
    const c = new MetaCache(1000, 500);
    c.putCopysets([{ copysetId: 7, members, leaderId: 1, term: 1 }], 0);
    c.noteUnreachable(7, 'a:1', 100);
    expect(c.target(7)).toBe('b:2');
    c.noteNotLeader(7, 'b:2', 'a:1', 1, 100); // a follower still naming the dead leader
    expect(c.target(7)).toBe('c:3');
    // the MDS still names the dead server leader: another copyset starts elsewhere
    c.putCopysets([{ copysetId: 8, members, leaderId: 1, term: 1 }], 200);
    expect(c.target(8)).toBe('b:2');
    c.putCopysets([{ copysetId: 9, members, leaderId: 1, term: 1 }], 600);
    expect(c.target(9)).toBe('a:1');
  });

  it('a success resets the round and clears suspicion', () => {
    const c = new MetaCache();
    c.putCopysets([{ copysetId: 7, members, leaderId: 1, term: 1 }], 0);
    c.noteUnreachable(7, 'a:1', 0);
    c.noteWrongMember(7, 'b:2', 0);
    c.noteWrongMember(7, 'c:3', 0);
    expect(c.hasCopyset(7)).toBe(false);
    c.putCopysets([{ copysetId: 7, members, leaderId: 3, term: 1 }], 0);
    c.noteSuccess(7, 'c:3');
    c.noteWrongMember(7, 'c:3', 0);
    expect(c.target(7)).toBe('b:2'); // skips the suspect a:1
    c.noteUnreachable(7, 'b:2', 0);
    expect(c.target(7)).toBe('c:3'); // the round is not over: the success reset it
    expect(c.isSuspect('b:2', 0)).toBe(true);
    c.noteSuccess(7, 'a:1');
    expect(c.isSuspect('a:1', 0)).toBe(false);
  });
});
