/**
 * The admission policy of NBD handshake and iSCSI login slots (#12 item 2):
 * idle peers cannot keep a client that is talking out, and what is turned
 * away is logged at most once per window.
 */
import { describe, expect, it, vi } from 'vitest';
import { AdmissionLog } from '../../../src/util/admission-log.js';
import { AdmissionReport, AdmissionTable, peerKey, type AdmissionCounts, type AdmissionEntry } from '../../../src/util/admission.js';

interface Conn extends AdmissionEntry {
  id: string;
}

function conn(id: string, peerAddress: string | undefined, at: number): Conn {
  return { id, peerAddress, acceptedAt: at, lastActivityAt: at, bytesReceived: 0 };
}

function fill(table: AdmissionTable<Conn>, n: number, address: string, at: number): Conn[] {
  const out: Conn[] = [];
  for (let i = 0; i < n; i++) {
    const d = table.admit(address, at);
    expect(d.admit).toBe(true);
    if (d.admit && d.evict) table.remove(d.evict);
    const c = conn(`${address}#${i}`, address, at);
    table.add(c);
    out.push(c);
  }
  return out;
}

describe('AdmissionTable', () => {
  const limits = { maxPerListener: 4, maxPerAddress: 3, stalledAfterMs: 1000 };

  it('admits up to the limits without evicting', () => {
    const t = new AdmissionTable<Conn>(limits);
    fill(t, 3, '10.0.0.1', 0);
    expect(t.admit('10.0.0.2', 0)).toEqual({ admit: true });
    expect(t.size).toBe(3);
  });

  it('a full address evicts its own oldest silent connection, not another address', () => {
    const t = new AdmissionTable<Conn>(limits);
    const [other] = fill(t, 1, '10.0.0.9', 0);
    const idle = fill(t, 3, '10.0.0.1', 10);
    const d = t.admit('10.0.0.1', 20);
    expect(d).toEqual({ admit: true, evict: idle[0], scope: 'address' });
    expect(d.admit && d.evict).not.toBe(other);
  });

  it('a full listener evicts the oldest silent connection for the newest arrival', () => {
    const t = new AdmissionTable<Conn>({ ...limits, maxPerAddress: 100 });
    const idle = fill(t, 4, '127.0.0.1', 0);
    expect(t.admit('127.0.0.1', 1)).toEqual({ admit: true, evict: idle[0], scope: 'listener' });
  });

  it('a client that has spoken is not evicted while silent ones remain, even if it is older', () => {
    const t = new AdmissionTable<Conn>({ ...limits, maxPerAddress: 100 });
    const [real, ...idle] = fill(t, 4, '127.0.0.1', 0);
    t.received(real!, 4, 5); // client flags
    const d = t.admit('127.0.0.1', 10);
    expect(d.admit && d.evict).toBe(idle[0]);
  });

  it('with no silent connection, one quiet for stalledAfterMs goes, least recently active first', () => {
    const t = new AdmissionTable<Conn>({ ...limits, maxPerAddress: 100 });
    const cs = fill(t, 4, '127.0.0.1', 0);
    cs.forEach((c, i) => t.received(c, 4, 100 - i * 10)); // cs[3] spoke last at 70: least recent
    expect(t.admit('127.0.0.1', 500)).toEqual({ admit: false, scope: 'listener' }); // all spoke < 1 s ago
    expect(t.admit('127.0.0.1', 1075)).toEqual({ admit: true, evict: cs[3], scope: 'listener' });
  });

  it('refuses the arrival when every slot is actively haggling', () => {
    const t = new AdmissionTable<Conn>(limits);
    const cs = fill(t, 3, '10.0.0.1', 0);
    for (const c of cs) t.received(c, 20, 50);
    expect(t.admit('10.0.0.1', 100)).toEqual({ admit: false, scope: 'address' });
    expect(t.admit('10.0.0.2', 100)).toEqual({ admit: true });
  });

  it('Unix-socket peers (no address) count against the listener only', () => {
    const t = new AdmissionTable<Conn>(limits);
    for (let i = 0; i < 4; i++) {
      expect(t.admit(undefined, 0)).toEqual({ admit: true });
      t.add(conn(`u${i}`, undefined, 0));
    }
    const d = t.admit(undefined, 1);
    expect(d.admit && d.evict?.id).toBe('u0');
  });

  it('remove forgets the entry in both scopes', () => {
    const t = new AdmissionTable<Conn>(limits);
    const cs = fill(t, 3, '10.0.0.1', 0);
    t.remove(cs[1]!);
    t.remove(cs[1]!);
    expect(t.size).toBe(2);
    expect(t.admit('10.0.0.1', 0)).toEqual({ admit: true });
  });

  it('1,500 idle arrivals then a real client: the real one gets a slot and keeps it', () => {
    const t = new AdmissionTable<Conn>({ maxPerListener: 1024, maxPerAddress: 128, stalledAfterMs: 1000 });
    let now = 0;
    const arrive = (c: Conn): boolean => {
      const d = t.admit(c.peerAddress, now);
      if (!d.admit) return false;
      if (d.evict) t.remove(d.evict);
      t.add(c);
      return true;
    };
    for (let i = 0; i < 1500; i++) expect(arrive(conn(`idle${i}`, '127.0.0.1', now++))).toBe(true);
    const real = conn('real', '127.0.0.1', now);
    expect(arrive(real)).toBe(true);
    t.received(real, 4, ++now);
    for (let i = 0; i < 1500; i++) expect(arrive(conn(`again${i}`, '127.0.0.1', ++now))).toBe(true);
    expect([...t.entries()]).toContain(real);
    expect(t.size).toBe(128);
  });
});

describe('peerKey', () => {
  it('unmaps IPv4-mapped IPv6 and leaves other addresses', () => {
    expect(peerKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(peerKey('::1')).toBe('::1');
    expect(peerKey(undefined)).toBeUndefined();
    expect(peerKey('')).toBeUndefined();
  });
});

describe('AdmissionReport', () => {
  it('logs the first event at once, then one summary per window with the counts in between', () => {
    const r = new AdmissionReport(10_000);
    expect(r.record('evicted', '127.0.0.1', 0)).toEqual({ evicted: 1, refused: 0, timedOut: 0, topAddress: '127.0.0.1', topAddressCount: 1 });
    let lines = 0;
    for (let i = 1; i <= 5000; i++) if (r.record(i % 2 ? 'evicted' : 'refused', i % 5 ? '127.0.0.1' : '10.0.0.1', i)) lines++;
    expect(lines).toBe(0);
    expect(r.nextDueAt()).toBe(10_000);
    expect(r.due(9_999)).toBeUndefined();
    expect(r.due(10_000)).toEqual({ evicted: 2500, refused: 2500, timedOut: 0, topAddress: '127.0.0.1', topAddressCount: 4000 });
    expect(r.due(30_000)).toBeUndefined();
    expect(r.nextDueAt()).toBeUndefined();
    expect(r.record('timedOut', undefined, 30_000)).toEqual({ evicted: 0, refused: 0, timedOut: 1 });
  });
});

describe('AdmissionLog', () => {
  it('emits the first event at once, the rest when the window ends (also if the timer wakes early), what is pending on flush', () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const lines: AdmissionCounts[] = [];
      const log = new AdmissionLog(10_000, (c) => lines.push(c), () => now);
      log.record('evicted', '127.0.0.1');
      for (let i = 0; i < 100; i++) log.record('refused', '127.0.0.1');
      expect(lines).toEqual([{ evicted: 1, refused: 0, timedOut: 0, topAddress: '127.0.0.1', topAddressCount: 1 }]);
      now = 9_999; // the clock lags the timer by a millisecond: still pending, tried again
      vi.advanceTimersByTime(10_000);
      expect(lines).toHaveLength(1);
      now = 10_000;
      vi.advanceTimersByTime(1);
      expect(lines[1]).toEqual({ evicted: 0, refused: 100, timedOut: 0, topAddress: '127.0.0.1', topAddressCount: 100 });
      now = 12_000;
      log.record('timedOut', undefined);
      expect(lines).toHaveLength(2);
      log.flush();
      expect(lines[2]).toEqual({ evicted: 0, refused: 0, timedOut: 1 });
      vi.advanceTimersByTime(20_000);
      expect(lines).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
