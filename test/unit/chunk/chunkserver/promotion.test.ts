/**
 * The leader promotes a learner (and offers leadership) only to a follower
 * that is receiving the log (`replicate`) within promoteLag of the leader.
 * In the chunk-replace fault test a spare whose progress sat in `snapshot`
 * (match = the snapshot index, within 64 of the leader) was promoted; with
 * the dead member still a voter every commit then needed the spare, and
 * the copyset's writes waited ~50 s for the snapshot timeout.
 */
import { describe, expect, it } from 'vitest';
import { isCloseFollower, learnerToPromote } from '../../../../backends/chunk/chunkserver/promotion.js';

type Pr = { match: number; next: number; state: string };

function status(lastIndex: number, learners: number[], progress: Array<[number, Pr]>) {
  return { lastIndex, conf: { voters: [1, 2, 3], learners }, progress: new Map(progress) };
}

describe('learner promotion', () => {
  it('promotes a replicating learner within the lag', () => {
    expect(learnerToPromote(status(100, [4], [[4, { match: 40, next: 101, state: 'replicate' }]]), 64)).toBe(4);
  });

  it('does not promote a learner in snapshot state, however close its match', () => {
    expect(learnerToPromote(status(100, [4], [[4, { match: 90, next: 91, state: 'snapshot' }]]), 64)).toBeUndefined();
  });

  it('does not promote a learner that never answered (probe, match 0) on a short log', () => {
    expect(learnerToPromote(status(20, [4], [[4, { match: 0, next: 21, state: 'probe' }]]), 64)).toBeUndefined();
  });

  it('does not promote a replicating learner beyond the lag, nor one without progress', () => {
    expect(learnerToPromote(status(200, [4], [[4, { match: 100, next: 201, state: 'replicate' }]]), 64)).toBeUndefined();
    expect(learnerToPromote(status(200, [4], []), 64)).toBeUndefined();
  });

  it('picks the first close learner', () => {
    const s = status(100, [4, 5], [[4, { match: 0, next: 1, state: 'probe' }], [5, { match: 99, next: 101, state: 'replicate' }]]);
    expect(learnerToPromote(s, 64)).toBe(5);
    expect(isCloseFollower(s, 4, 64)).toBe(false);
    expect(isCloseFollower(s, 5, 1)).toBe(true);
  });
});
