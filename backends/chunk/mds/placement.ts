/**
 * Copyset placement (pure). Each copyset's members sit in distinct zones,
 * no chunkserver holds more than `maxPerChunkserver` copysets, and load is
 * spread: members are picked least-loaded first, and among equals the one
 * sharing the fewest copysets with the members already chosen, so the same
 * triple is not repeated (fewer distinct triples sharing a server lowers the
 * chance that a triple failure loses data; design.md §3).
 */

export interface PlacementNode {
  id: number;
  zone: string;
}

export interface PlacementInput {
  /** Chunkservers eligible for new members (up). */
  nodes: readonly PlacementNode[];
  /** Member lists of existing copysets (all chunkservers, up or down). */
  existing: readonly (readonly number[])[];
  maxPerChunkserver: number;
  replicas: number;
}

/** Copysets per chunkserver. */
export function loadOf(existing: readonly (readonly number[])[]): Map<number, number> {
  const load = new Map<number, number>();
  for (const members of existing) for (const m of members) load.set(m, (load.get(m) ?? 0) + 1);
  return load;
}

function pairKey(a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

function pairsOf(existing: readonly (readonly number[])[]): Map<string, number> {
  const pairs = new Map<string, number>();
  for (const ms of existing) {
    for (let i = 0; i < ms.length; i++) {
      for (let j = i + 1; j < ms.length; j++) pairs.set(pairKey(ms[i]!, ms[j]!), (pairs.get(pairKey(ms[i]!, ms[j]!)) ?? 0) + 1);
    }
  }
  return pairs;
}

/**
 * Plan up to `count` new copysets; returns their member lists (fewer when
 * the zones or the per-chunkserver bound run out). Deterministic.
 */
export function planCopysets(input: PlacementInput, count: number): number[][] {
  const load = loadOf(input.existing);
  const pairs = pairsOf(input.existing);
  const out: number[][] = [];
  for (let n = 0; n < count; n++) {
    const members = pickMembers(input, load, pairs);
    if (!members) break;
    for (const m of members) load.set(m, (load.get(m) ?? 0) + 1);
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const k = pairKey(members[i]!, members[j]!);
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
      }
    }
    out.push(members);
  }
  return out;
}

function pickMembers(input: PlacementInput, load: Map<number, number>, pairs: Map<string, number>): number[] | undefined {
  const chosen: PlacementNode[] = [];
  while (chosen.length < input.replicas) {
    const next = bestCandidate(input, chosen, load, pairs);
    if (!next) return undefined;
    chosen.push(next);
  }
  return chosen.map((c) => c.id).sort((a, b) => a - b);
}

function bestCandidate(
  input: PlacementInput,
  chosen: readonly PlacementNode[],
  load: Map<number, number>,
  pairs: Map<string, number>,
): PlacementNode | undefined {
  const zones = new Set(chosen.map((c) => c.zone));
  let best: PlacementNode | undefined;
  let bestScore: [number, number, number] | undefined;
  for (const node of input.nodes) {
    const l = load.get(node.id) ?? 0;
    if (zones.has(node.zone) || l >= input.maxPerChunkserver) continue;
    const overlap = chosen.reduce((s, c) => s + (pairs.get(pairKey(c.id, node.id)) ?? 0), 0);
    const score: [number, number, number] = [l, overlap, node.id];
    if (!bestScore || lexLess(score, bestScore)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * A replacement member for a copyset that lost one: up, not a member, in a
 * zone none of the `keep` members uses, under the bound; least loaded wins.
 */
export function pickReplacement(
  nodes: readonly PlacementNode[],
  keep: readonly PlacementNode[],
  exclude: ReadonlySet<number>,
  load: ReadonlyMap<number, number>,
  maxPerChunkserver: number,
): PlacementNode | undefined {
  const zones = new Set(keep.map((k) => k.zone));
  let best: PlacementNode | undefined;
  for (const n of nodes) {
    const l = load.get(n.id) ?? 0;
    if (exclude.has(n.id) || zones.has(n.zone) || l >= maxPerChunkserver) continue;
    if (!best || lexLess([l, n.id], [load.get(best.id) ?? 0, best.id])) best = n;
  }
  return best;
}

/** How many copysets a cluster of `upNodes` chunkservers should have. */
export function targetCopysetCount(upNodes: number, perChunkserver: number, replicas: number): number {
  return Math.floor((upNodes * perChunkserver) / replicas);
}
