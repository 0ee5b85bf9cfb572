/**
 * Active-MDS election. With etcd: each MDS campaigns by creating
 * `/blockgate/mds/leader` bound to its own lease in a create-if-absent txn;
 * the winner keeps the lease alive, the others poll the key (and learn the
 * active address from it) and campaign again once it is gone.
 *
 * Safety: the leader stops serving at `deadline` = send time of the last
 * successful keepalive + TTL, which is no later than etcd's own expiry of
 * the lease, so two MDSs never serve at once (assuming similar clock rates);
 * its writes are also fenced on the key (etcd-store.ts). Without etcd,
 * LocalElection makes the single MDS active at once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { EtcdClient, etcdOps } from './etcd-client.js';
import { KEYS } from './store.js';

export interface Election {
  /** True only while this MDS is the active one and its lease is unexpired. */
  isLeader(): boolean;
  /** The active MDS's RPC address ("" when unknown). */
  leaderAddress(): string;
  /** The fence value while leader (etcd-store.ts). */
  fenceValue(): string | undefined;
  /** `cb(true)` once elected, `cb(false)` once leadership is lost. */
  onChange(cb: (leader: boolean) => void): void;
  start(): void;
  /** Resign (revoke the lease so a standby takes over at once) and stop. */
  stop(): Promise<void>;
}

export class LocalElection implements Election {
  private cb: ((leader: boolean) => void) | undefined;
  private running = false;
  constructor(private readonly self: string) {}
  isLeader(): boolean {
    return this.running;
  }
  leaderAddress(): string {
    return this.self;
  }
  fenceValue(): string | undefined {
    return undefined;
  }
  onChange(cb: (leader: boolean) => void): void {
    this.cb = cb;
  }
  start(): void {
    this.running = true;
    this.cb?.(true);
  }
  async stop(): Promise<void> {
    this.running = false;
  }
}

export interface EtcdElectionOptions {
  self: string;
  ttlSeconds: number;
  /** How often a standby looks at the leader key (ms). */
  pollMs?: number;
  log?: Logger;
}

export class EtcdElection implements Election {
  private leaseId: string | undefined;
  private deadline = 0;
  private leader = false;
  private known = '';
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private cb: ((leader: boolean) => void) | undefined;
  private readonly value: string;

  constructor(
    private readonly client: EtcdClient,
    private readonly o: EtcdElectionOptions,
  ) {
    this.value = JSON.stringify({ address: o.self, nonce: randomUUID() });
  }

  isLeader(): boolean {
    return this.leader && Date.now() < this.deadline;
  }
  leaderAddress(): string {
    return this.isLeader() ? this.o.self : this.known;
  }
  fenceValue(): string | undefined {
    return this.leader ? this.value : undefined;
  }
  onChange(cb: (leader: boolean) => void): void {
    this.cb = cb;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const id = this.leaseId;
    this.leaseId = undefined;
    if (this.leader) this.lose('resigned');
    if (id) await this.client.leaseRevoke(id).catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    try {
      if (this.leader) await this.keepAlive();
      else await this.campaign();
    } catch (e) {
      this.o.log?.warn({ err: (e as Error).message }, 'mds election: etcd request failed');
      if (this.leader && Date.now() >= this.deadline) this.lose('lease expired');
    }
    const period = this.leader ? (this.o.ttlSeconds * 1000) / 3 : (this.o.pollMs ?? 500);
    this.schedule(this.leader ? Math.max(0, Math.min(period, this.deadline - Date.now())) : period);
  }

  private async campaign(): Promise<void> {
    const cur = await this.client.range(KEYS.leader);
    if (cur[0]) {
      this.known = addressOf(cur[0].value);
      return;
    }
    const sentAt = Date.now();
    const id = await this.client.leaseGrant(this.o.ttlSeconds);
    const won = await this.client.txn([etcdOps.absent(KEYS.leader)], [etcdOps.put(KEYS.leader, this.value, id)]);
    if (!won) {
      await this.client.leaseRevoke(id).catch(() => undefined);
      return;
    }
    this.leaseId = id;
    this.deadline = sentAt + this.o.ttlSeconds * 1000;
    this.leader = true;
    this.known = this.o.self;
    this.o.log?.info({ lease: id }, 'mds elected active');
    if (this.stopped) return;
    this.cb?.(true);
  }

  private async keepAlive(): Promise<void> {
    if (Date.now() >= this.deadline) return this.lose('lease expired');
    const sentAt = Date.now();
    const ttl = await this.client.leaseKeepAlive(this.leaseId!);
    if (ttl <= 0) return this.lose('lease lost');
    this.deadline = sentAt + ttl * 1000;
  }

  private lose(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.known = '';
    const id = this.leaseId;
    this.leaseId = undefined;
    if (id) void this.client.leaseRevoke(id).catch(() => undefined);
    this.o.log?.warn({ reason }, 'mds lost leadership');
    this.cb?.(false);
  }
}

function addressOf(value: string): string {
  try {
    const v = JSON.parse(value) as { address?: unknown };
    return typeof v.address === 'string' ? v.address : '';
  } catch {
    return '';
  }
}
