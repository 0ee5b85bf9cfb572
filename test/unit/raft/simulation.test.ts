/**
 * Randomised, seeded simulation of Raft groups under message loss, delay,
 * reordering, duplication, partitions, crash-restarts, proposals, reads,
 * membership changes, leadership transfers and snapshots.
 *
 *   RAFT_SEED=1234 npx vitest run test/unit/raft/simulation.test.ts   # replay one seed
 *   RAFT_SEEDS=20000 npx vitest run test/unit/raft/simulation.test.ts # run more seeds
 *
 * Invariants (Raft §5.4 / Figure 3): election safety, log matching, leader
 * completeness, state-machine safety, linearizable read indexes; then
 * liveness: after healing, a leader is elected and a new proposal commits
 * within a bounded virtual time.
 */
import { describe, expect, it } from 'vitest';
import { Sim, SimFailure } from './sim.js';

const HEAL_TICKS = 300;

export function runSchedule(seed: number, voters: number): Sim {
  const sim = new Sim({ seed, voters, spares: 1, chaosTicks: 0, healTicks: HEAL_TICKS });
  const chaosTicks = 60 + sim.rand(60);
  sim.lossRate = [0, 0.02, 0.1][sim.rand(3)]!;
  sim.dupRate = [0, 0.05][sim.rand(2)]!;
  let healAt = 0;
  for (let t = 0; t < chaosTicks; t++) {
    chaos(sim, t, () => healAt, (v) => (healAt = v));
    sim.runTick();
    if (t % 20 === 19) sim.checkLogMatching();
  }
  heal(sim);
  return sim;
}

function chaos(sim: Sim, t: number, healAt: () => number, setHealAt: (t: number) => void): void {
  const r = sim.rng();
  if (r < 0.4) for (let k = sim.rand(3); k >= 0; k--) sim.propose();
  else if (r < 0.5) sim.read();
  else if (r < 0.54) sim.confChange();
  else if (r < 0.57) sim.transfer();
  else if (r < 0.65) sim.snapshot();
  else if (r < 0.68) sim.crash(1 + sim.rand(sim.nodes.size), 1 + sim.rand(20));
  else if (r < 0.71 && !sim.partitioned()) {
    partition(sim);
    setHealAt(t + 5 + sim.rand(30));
  }
  if (sim.partitioned() && t >= healAt()) sim.heal();
}

function partition(sim: Sim): void {
  const ids = [...sim.nodes.keys()];
  const [leader] = sim.leaders();
  if (leader !== undefined && sim.rng() < 0.5) {
    sim.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
    return;
  }
  const a = ids.filter(() => sim.rng() < 0.5);
  sim.partition([a, ids.filter((id) => !a.includes(id))]);
}

/** Liveness: heal everything; a leader must emerge and commit a fresh proposal. */
function heal(sim: Sim): void {
  sim.heal();
  sim.lossRate = 0;
  sim.dupRate = 0;
  sim.restartAll();
  let pending: { index: number; key: string } | undefined;
  for (let t = 0; t < HEAL_TICKS; t++) {
    sim.runTick();
    if (pending === undefined || (t % 20 === 19 && !sim.isApplied(pending))) {
      const [l] = sim.leaders();
      if (l !== undefined) {
        const res = l.raft!.propose(new TextEncoder().encode(`final-${t}`));
        sim.process(l);
        if (res.ok) pending = { index: res.index, key: `${res.term}/normal/${Buffer.from(`final-${t}`).toString('hex')}` };
      }
    }
    if (pending !== undefined && sim.isApplied(pending)) {
      sim.checkLogMatching();
      return;
    }
  }
  sim.fail(`no progress within ${HEAL_TICKS} ticks after healing (leaders: ${sim.leaders().map((n) => n.id).join(',') || 'none'})`);
}

function seedsToRun(): number[] {
  const one = process.env['RAFT_SEED'];
  if (one !== undefined) return [Number(one)];
  const count = Number(process.env['RAFT_SEEDS'] ?? 2000);
  return Array.from({ length: count }, (_, k) => k + 1);
}

describe('raft simulation', () => {
  it('keeps safety and liveness over many seeded schedules (3 and 5 voters)', () => {
    const totals = { elections: 0, applied: 0, snapshotsSent: 0, reads: 0, crashes: 0, confChanges: 0 };
    for (const seed of seedsToRun()) {
      const voters = seed % 2 === 0 ? 3 : 5;
      let sim: Sim;
      try {
        sim = runSchedule(seed, voters);
      } catch (e) {
        const why = e instanceof SimFailure ? e.message : `seed ${seed}: ${(e as Error).stack}`;
        throw new Error(`${why}\n  replay: RAFT_SEED=${seed} npx vitest run test/unit/raft/simulation.test.ts`);
      }
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += sim.stats[k];
    }
    if (process.env["RAFT_STATS"]) console.log(totals);
    // The schedules must actually exercise the features, not idle.
    const n = seedsToRun().length;
    expect(totals.applied).toBeGreaterThan(n * 10);
    expect(totals.elections).toBeGreaterThanOrEqual(n);
    if (n >= 100) {
      expect(totals.snapshotsSent).toBeGreaterThan(0);
      expect(totals.reads).toBeGreaterThan(0);
      expect(totals.confChanges).toBeGreaterThan(0);
    }
  });
});
