/**
 * A small seeded PRNG (mulberry32) for hosts and tests. The core never draws
 * randomness itself; it calls the `random` function passed in RaftConfig.
 * Hosts should seed each group differently (e.g. from node id and group id)
 * so election timeouts do not line up across a chunkserver's groups.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
