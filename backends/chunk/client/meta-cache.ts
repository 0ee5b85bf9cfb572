/**
 * The client's metadata cache (Curve's MetaCache): segment → chunks and
 * copyset → members + leader. Pure bookkeeping; the device fills it from
 * the MDS and tells it what each attempt learned. `now` is an input.
 *
 * Invalidation:
 *  - allocated segments never change (chunk ids and their copysets are
 *    fixed for the life of the volume), so they are cached for good;
 *  - "unallocated" is cached for `holeTtlMs` only (another client may
 *    allocate it), and never replaces an allocated entry (a read's stale
 *    answer racing this client's own allocation);
 *  - a copyset's leader follows NOT_LEADER hints; a target that cannot be
 *    used (timeout, lost connection, NO_COPYSET, NOT_LEADER without a hint)
 *    moves to the next member; once every member was tried the entry is
 *    dropped, so the next attempt refetches members and leader from the MDS
 *    (a repair may have replaced one);
 *  - a chunkserver that timed out or dropped the connection is avoided by
 *    every copyset for `suspectMs` (a dead server is dead for all of its
 *    copysets, and the MDS keeps naming it leader until its heartbeat
 *    timeout), unless no other member is left.
 */
import type { CopysetInfo, PeerAddr, SegmentInfo } from '../proto/mds-api.js';

interface SegmentEntry {
  readonly segment: SegmentInfo | null;
  readonly at: number;
}

interface CopysetEntry {
  members: PeerAddr[];
  /** Address requests go to now. */
  target: string | undefined;
  /** Consecutive suspect targets since the last success. */
  misses: number;
}

export class MetaCache {
  private readonly segments = new Map<number, SegmentEntry>();
  private readonly copysets = new Map<number, CopysetEntry>();
  /** Chunkserver address → until when it is avoided. */
  private readonly suspects = new Map<string, number>();

  constructor(
    private readonly holeTtlMs = 1000,
    private readonly suspectMs = 3000,
  ) {}

  /** undefined = not cached (ask the MDS); null = unallocated (reads are zeroes). */
  segment(index: number, now: number): SegmentInfo | null | undefined {
    const e = this.segments.get(index);
    if (!e) return undefined;
    if (e.segment === null && now - e.at >= this.holeTtlMs) {
      this.segments.delete(index);
      return undefined;
    }
    return e.segment;
  }

  putSegment(index: number, segment: SegmentInfo | null, now: number): void {
    if (segment === null && this.segments.get(index)?.segment) return;
    this.segments.set(index, { segment, at: now });
  }

  hasCopyset(id: number): boolean {
    return this.copysets.has(id);
  }

  /** Install MDS answers; the MDS's last known leader becomes the target unless suspect, else the first member that is not. */
  putCopysets(infos: readonly CopysetInfo[], now: number): void {
    for (const cs of infos) {
      const leader = cs.members.find((m) => m.id === cs.leaderId);
      const usable = leader && !this.isSuspect(leader.address, now) ? leader : (cs.members.find((m) => !this.isSuspect(m.address, now)) ?? leader ?? cs.members[0]);
      this.copysets.set(cs.copysetId, { members: [...cs.members], target: usable?.address, misses: 0 });
    }
  }

  isSuspect(address: string, now: number): boolean {
    const until = this.suspects.get(address);
    if (until === undefined) return false;
    if (now < until) return true;
    this.suspects.delete(address);
    return false;
  }

  /** Where to send the copyset's next request (undefined: refetch it). */
  target(id: number): string | undefined {
    return this.copysets.get(id)?.target;
  }

  members(id: number): readonly PeerAddr[] {
    return this.copysets.get(id)?.members ?? [];
  }

  /** The target answered: it is the leader. */
  noteSuccess(id: number, from: string): void {
    const e = this.copysets.get(id);
    if (e) e.misses = 0;
    this.suspects.delete(from);
  }

  /**
   * NOT_LEADER from `from`: go to the hinted leader (adding it to the
   * members if the hint names a member this cache did not know), or to
   * the next member when there is no hint. Returns true when the target changed.
   */
  noteNotLeader(id: number, from: string, hint: string, hintId: number, now: number): boolean {
    const e = this.copysets.get(id);
    if (!e) return false;
    // A follower keeps naming a dead leader until its election timeout: do not go back to a suspect.
    if (hint === '' || hint === from || this.isSuspect(hint, now)) return this.noteWrongMember(id, from, now);
    if (!e.members.some((m) => m.address === hint)) e.members.push({ id: hintId, address: hint, zone: '' });
    e.target = hint;
    return true;
  }

  /** `from` timed out or dropped the connection: avoid it everywhere for a while, and move on. */
  noteUnreachable(id: number, from: string, now: number): boolean {
    this.suspects.set(from, now + this.suspectMs);
    return this.noteWrongMember(id, from, now);
  }

  /**
   * `from` cannot serve the copyset now (alive but not the leader, or not
   * hosting it): try the next member that is not suspect; after a full
   * round, forget the copyset. Returns true when the target changed.
   */
  noteWrongMember(id: number, from: string, now: number): boolean {
    const e = this.copysets.get(id);
    if (!e) return false;
    if (e.target !== from) return false; // another piece already moved on
    e.misses++;
    if (e.misses >= e.members.length) {
      this.copysets.delete(id);
      return true;
    }
    const i = e.members.findIndex((m) => m.address === from);
    const order = e.members.map((_, k) => e.members[(i + 1 + k) % e.members.length]!).filter((m) => m.address !== from);
    e.target = (order.find((m) => !this.isSuspect(m.address, now)) ?? order[0])?.address;
    return true;
  }

  /** Forget the copyset: the next attempt refetches it from the MDS. */
  dropCopyset(id: number): void {
    this.copysets.delete(id);
  }
}
