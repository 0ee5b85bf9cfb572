/**
 * The target registry: the management plane's model of every target, LUN,
 * account, ACL and session. Only the main thread touches it (there is no
 * target-list lock: nothing else walks this list). Changes that a target's
 * loop must see go through that target's TargetRuntime, under its lock.
 *
 * Admin requests (bgadm, config files) are executed by src/mgmt/admin-ops.ts
 * against this state; protocol directories (login, NBD haggling) read it.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AccountConfig, DaemonConfig, LunConfig, TargetConfig } from '../config/schema.js';
import type { LunParams, ProtocolName, SessionEvent } from '../worker/contract.js';
import type { BackendSpec, LunDeviceInfo } from '../worker/messages.js';
import { defaultLunParams } from '../worker/local-target.js';
import { DEFAULT_NAA_COMPANY_ID, deriveLunIdentity, lunStateDir, type LunIdentitySpec } from '../worker/lun-identity.js';
import { createLunStatsBuffer } from '../worker/shared-stats.js';
import { TargetRuntime, type LoopSpawner } from './target-runtime.js';

export interface SessionRecord {
  sid: number;
  protocol: ProtocolName;
  initiator: string;
  isid?: string;
  tsih?: number;
  /** iSCSI: MaxConnections negotiated by the leading login. */
  maxConnections?: number;
  connections: Map<number, { peer: string; local: string }>;
}

export interface LunRecord {
  cfg: LunConfig;
  info: LunDeviceInfo;
  params: LunParams;
  stats: SharedArrayBuffer;
  /** The LUN's SCSI state directory (PR), keyed by its identity; removed with the LUN. */
  stateDir: string;
}

export interface TargetRecord {
  cfg: TargetConfig;
  runtime: TargetRuntime;
  luns: Map<number, LunRecord>;
  sessions: Map<number, SessionRecord>;
  state: 'ready' | 'offline';
}

export interface RegistryOptions {
  spawn: LoopSpawner;
  dataDir: string;
  log: Logger;
  /** IEEE company id of the NAA designators (config `naaCompanyId`); default DEFAULT_NAA_COMPANY_ID. */
  naaCompanyId?: number;
}

export class Registry {
  readonly targets = new Map<number, TargetRecord>();
  readonly accounts = new Map<string, AccountConfig>();
  discovery: { incomingUsers: string[]; outgoingUser?: string } = { incomingUsers: [] };
  private nextSid = 1;

  constructor(private readonly opts: RegistryOptions) {}

  get log(): Logger {
    return this.opts.log;
  }

  get dataDir(): string {
    return this.opts.dataDir;
  }

  targetByName(name: string): TargetRecord | undefined {
    for (const t of this.targets.values()) if (t.cfg.name === name) return t;
    return undefined;
  }

  /** Session ids are unique across the daemon; iSCSI uses them as TSIH (16 bits, non-zero). */
  allocateSid(): number {
    for (let i = 0; i < 0xffff; i++) {
      const sid = this.nextSid;
      this.nextSid = this.nextSid >= 0xffff ? 1 : this.nextSid + 1;
      if (!this.sessionInUse(sid)) return sid;
    }
    throw new Error('no free session id');
  }

  private sessionInUse(sid: number): boolean {
    for (const t of this.targets.values()) if (t.sessions.has(sid)) return true;
    return false;
  }

  async createTarget(cfg: TargetConfig): Promise<TargetRecord> {
    const runtime = new TargetRuntime(cfg.tid, cfg.name, this.opts.spawn, this.opts.log, (tid, e) => this.onSessionEvent(tid, e));
    const rec: TargetRecord = { cfg: { ...cfg, luns: [] }, runtime, luns: new Map(), sessions: new Map(), state: 'ready' };
    this.targets.set(cfg.tid, rec);
    this.opts.log.info({ target: cfg.name, tid: cfg.tid, lld: cfg.lld }, 'target created');
    return rec;
  }

  async deleteTarget(rec: TargetRecord, reason: string): Promise<void> {
    this.targets.delete(rec.cfg.tid);
    await rec.runtime.stop(reason);
    // Its LUNs go with it, and so does their SCSI state (see removeLun).
    for (const [lun, lr] of rec.luns) if (!this.stateDirShared(lr.stateDir)) await this.removeLunState(rec, lun, lr.stateDir);
    this.opts.log.info({ target: rec.cfg.name, tid: rec.cfg.tid }, 'target deleted');
  }

  async addLun(rec: TargetRecord, lun: LunConfig): Promise<LunRecord> {
    const identity: LunIdentitySpec = {
      ...(lun.uuid !== undefined ? { uuid: lun.uuid } : {}),
      ...(lun.serial !== undefined ? { serial: lun.serial } : {}),
      ...(lun.scsiId !== undefined ? { scsiId: lun.scsiId } : {}),
      companyId: this.opts.naaCompanyId ?? DEFAULT_NAA_COMPANY_ID,
    };
    // A chunk LUN has no id of its own: its volume's (from the MDS) replaces this placeholder in the loop.
    const provisional = deriveLunIdentity(identity, lun.uuid === undefined ? PLACEHOLDER_ID : undefined);
    const params = defaultLunParams(provisional, {
      ...(lun.vendorId !== undefined ? { vendorId: lun.vendorId } : {}),
      ...(lun.productId !== undefined ? { productId: lun.productId } : {}),
      ...(lun.productRev !== undefined ? { productRev: lun.productRev } : {}),
      readOnly: lun.readOnly ?? false,
      removable: lun.removable ?? false,
      writeCache: lun.writeCache ?? true,
      thinProvisioning: lun.thinProvisioning ?? true,
    });
    const stats = createLunStatsBuffer();
    const backend: BackendSpec = {
      bstype: lun.bstype,
      path: this.backingPath(lun),
      serial: provisional.serial,
      readOnly: lun.readOnly ?? false,
      ...(lun.sizeBytes !== undefined ? { createSizeBytes: lun.sizeBytes } : {}),
      ...(lun.blockSize !== undefined ? { blockSize: lun.blockSize } : {}),
      ...(lun.bsopts !== undefined ? { bsopts: lun.bsopts } : {}),
    };
    const stateRoot = path.join(this.opts.dataDir, 'state');
    const legacy = legacyStateDir(this.opts.dataDir, rec.cfg.name, lun.lun);
    const info = await rec.runtime.request<LunDeviceInfo>({
      type: 'addLun', lun: lun.lun, backend, params, identity, stats, stateRoot, legacyStateDir: legacy,
    });
    // The loop derived the same identity (from the device's own id where it has one).
    const actual = deriveLunIdentity(identity, info.uuid ?? (lun.uuid === undefined ? PLACEHOLDER_ID : undefined));
    const lr: LunRecord = {
      cfg: lun,
      info,
      params: { ...params, ...actual, readOnly: params.readOnly || info.readOnly },
      stats,
      stateDir: lunStateDir(stateRoot, actual.uuid),
    };
    rec.luns.set(lun.lun, lr);
    rec.cfg.luns = [...rec.luns.values()].map((l) => l.cfg).sort((a, b) => a.lun - b.lun);
    this.opts.log.info({ target: rec.cfg.name, lun: lun.lun, backend: `${lun.bstype}:${backend.path}`, uuid: actual.uuid }, 'LUN added');
    return lr;
  }

  /**
   * Change a LUN's explicit serial / T10 designator (tgt's update of
   * scsi_sn / scsi_id); its id, and so its NAA designator, stay.
   */
  async updateLunIdentity(rec: TargetRecord, lr: LunRecord, change: { serial?: string; scsiId?: string }): Promise<void> {
    const cfg: LunConfig = { ...lr.cfg, ...change };
    const identity = deriveLunIdentity({
      ...(cfg.serial !== undefined ? { serial: cfg.serial } : {}),
      ...(cfg.scsiId !== undefined ? { scsiId: cfg.scsiId } : {}),
      companyId: this.opts.naaCompanyId ?? DEFAULT_NAA_COMPANY_ID,
    }, lr.params.uuid);
    await rec.runtime.request({ type: 'setLunIdentity', lun: cfg.lun, identity });
    lr.cfg = cfg;
    lr.params = { ...lr.params, ...identity };
    if (identity.t10Id === undefined) delete lr.params.t10Id;
    rec.cfg.luns = [...rec.luns.values()].map((l) => l.cfg).sort((a, b) => a.lun - b.lun);
    this.opts.log.info({ target: rec.cfg.name, lun: cfg.lun, serial: identity.serial }, 'LUN identity updated');
  }

  /** The LUN whose reported identity (own or its device's) is `uuid`, if any. */
  lunByUuid(uuid: string): { target: TargetRecord; lun: LunRecord } | undefined {
    for (const t of this.targets.values()) for (const l of t.luns.values()) if (l.params.uuid === uuid) return { target: t, lun: l };
    return undefined;
  }

  /** File LUN paths are relative to the data dir. */
  backingPath(lun: LunConfig): string {
    return lun.bstype === 'file' ? path.resolve(this.opts.dataDir, lun.backingStore) : lun.backingStore;
  }

  /**
   * Remove the LUN and its SCSI state: persistent reservations belong to
   * the logical unit, and a later LUN (even with the same number) is a
   * different one. The loop has drained the LUN before the state goes.
   */
  async removeLun(rec: TargetRecord, lun: number): Promise<void> {
    const lr = rec.luns.get(lun);
    rec.luns.delete(lun);
    rec.cfg.luns = rec.cfg.luns.filter((l) => l.lun !== lun);
    await rec.runtime.request({ type: 'removeLun', lun, drainMs: 30_000 });
    if (lr && !this.stateDirShared(lr.stateDir)) await this.removeLunState(rec, lun, lr.stateDir);
    this.opts.log.info({ target: rec.cfg.name, lun }, 'LUN removed');
  }

  /** Another LUN of this gateway exports the same volume (same identity): its state stays. */
  private stateDirShared(stateDir: string): boolean {
    for (const t of this.targets.values()) for (const l of t.luns.values()) if (l.stateDir === stateDir) return true;
    return false;
  }

  private async removeLunState(rec: TargetRecord, lun: number, stateDir: string): Promise<void> {
    try {
      await rm(stateDir, { recursive: true, force: true });
      // State of the layout before identities (state/<target>/lun<N>) goes too.
      await rm(legacyStateDir(this.opts.dataDir, rec.cfg.name, lun), { recursive: true, force: true });
    } catch (err) {
      this.opts.log.error({ target: rec.cfg.name, lun, err: (err as Error).message }, 'removing LUN state failed');
    }
  }

  async closeAllSessions(rec: TargetRecord, reason: string): Promise<void> {
    await Promise.allSettled(
      [...rec.sessions.values()].map((s) => rec.runtime.request({ type: 'closeSession', protocol: s.protocol, sid: s.sid, reason })),
    );
  }

  /**
   * tgt's ACL semantics: the initiator's address must match a bound address
   * rule (an empty address list admits nobody), and when initiator names are
   * bound, its name must be one of them.
   */
  aclAllows(rec: TargetRecord, initiatorName: string, address: string): boolean {
    const acl = rec.cfg.acl;
    if (!acl.addresses.some((a) => addressMatches(a, address))) return false;
    return acl.names.length === 0 || acl.names.includes(initiatorName);
  }

  snapshotConfig(base: DaemonConfig): DaemonConfig {
    const out: DaemonConfig = {
      ...base,
      accounts: [...this.accounts.values()],
      discovery: { ...this.discovery },
      targets: [...this.targets.values()].map((t) => structuredClone(t.cfg)).sort((a, b) => a.tid - b.tid),
    };
    if (out.discovery.outgoingUser === undefined) delete out.discovery.outgoingUser;
    return out;
  }

  private onSessionEvent(tid: number, e: SessionEvent): void {
    const rec = this.targets.get(tid);
    if (!rec) return;
    switch (e.type) {
      case 'session-open':
        rec.sessions.set(e.sid, {
          sid: e.sid,
          protocol: e.protocol,
          initiator: e.initiator,
          ...(e.isid !== undefined ? { isid: e.isid } : {}),
          ...(e.tsih !== undefined ? { tsih: e.tsih } : {}),
          ...(e.maxConnections !== undefined ? { maxConnections: e.maxConnections } : {}),
          connections: new Map(),
        });
        this.opts.log.info({ target: rec.cfg.name, sid: e.sid, initiator: e.initiator, protocol: e.protocol }, 'login');
        break;
      case 'session-close':
        rec.sessions.delete(e.sid);
        this.opts.log.info({ target: rec.cfg.name, sid: e.sid }, 'logout');
        break;
      case 'conn-open':
        rec.sessions.get(e.sid)?.connections.set(e.cid, { peer: e.peer, local: e.local });
        break;
      case 'conn-close':
        rec.sessions.get(e.sid)?.connections.delete(e.cid);
        break;
    }
  }
}

/**
 * tgt's unit serial number (`SCSI SN`): "beaf", tid, LUN. Only the
 * controller LUN 0 of `show` still uses it (it has no SCSI identity of its
 * own here); real LUNs derive theirs from their id (lun-identity.ts).
 */
export function tgtSerial(tid: number, lun: number): string {
  return `beaf${tid}${lun}`;
}

/** Where PR state lived before it was keyed by identity; only ever deleted now. */
export function legacyStateDir(dataDir: string, targetName: string, lun: number): string {
  return path.join(dataDir, 'state', targetName.replace(/[^A-Za-z0-9._-]/g, '_'), `lun${lun}`);
}

/** Stands in for a chunk LUN's id until its volume supplies one (never reported). */
const PLACEHOLDER_ID = 'f'.repeat(32);

/** ACL address rule: 'ALL', an exact IPv4/IPv6 address, or a CIDR block. */
export function addressMatches(rule: string, address: string): boolean {
  if (rule.toUpperCase() === 'ALL') return true;
  const addr = address.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  const [net, bitsText] = rule.replace(/^\[|\]$/g, '').split('/');
  if (bitsText === undefined) return net === addr;
  const a = toBytes(addr);
  const n = toBytes(net!);
  if (!a || !n || a.length !== n.length) return false;
  let bits = Number(bitsText);
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (n[i]! & mask)) return false;
  }
  return true;
}

function toBytes(ip: string): number[] | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return ip.split('.').map(Number);
  if (!ip.includes(':')) return undefined;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => {
    const v = parseInt(g || '0', 16);
    return [v >> 8, v & 0xff];
  });
}
