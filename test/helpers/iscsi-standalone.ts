/**
 * An in-process iSCSI target for tests: the real portal on 127.0.0.1:0 with a
 * tiny IscsiDirectory whose handOff adopts the connection on this same thread
 * (no worker, no fd duplication). One target (tid 1) with LUNs over
 * MemoryDevice, SCSI emulation from targets/scsi.
 */
import pino from 'pino';
import { MemoryDevice } from '../../backends/memory/device.js';
import type { BlockDevice } from '../../src/block/device.js';
import { defaultLunParams, LocalTarget, Lun, PlainCounters } from '../../src/worker/local-target.js';
import type { SessionEvent } from '../../src/worker/contract.js';
import type { ChapAccount, IscsiDirectory, IscsiHandOffState, IscsiTargetEntry } from '../../targets/iscsi/directory.js';
import { IscsiPortal, type IscsiPortalOptions } from '../../targets/iscsi/portal.js';
import { IscsiTarget } from '../../targets/iscsi/session/module.js';
import type { ConnectionOptions } from '../../targets/iscsi/session/connection.js';
import { ScsiTargetDevice } from '../../targets/scsi/index.js';

export interface StandaloneOptions {
  targetName?: string;
  alias?: string;
  /** One LUN per entry (LUN numbers 1..n unless `lunNumbers`); default one 64 MiB MemoryDevice. */
  devices?: BlockDevice[];
  lunNumbers?: number[];
  incoming?: ChapAccount[];
  outgoing?: ChapAccount;
  discoveryIncoming?: ChapAccount[];
  discoveryOutgoing?: ChapAccount;
  acl?: (initiatorName: string, address: string) => boolean;
  params?: Record<string, string>;
  /** Extra targets visible in discovery only (no LUNs). */
  extraTargets?: string[];
  connOptions?: ConnectionOptions;
  logLevel?: string;
  /** Portal options beyond directory and log (e.g. the CHAP throttle). */
  portal?: Omit<IscsiPortalOptions, 'directory' | 'log'>;
  /** Redirect the target (RFC 7143 login redirection); 'self' = to this very portal. */
  redirect?: { address: string; port: number | 'self'; permanent: boolean };
}

export interface Standalone {
  port: number;
  targetName: string;
  url(lun?: number, user?: string, password?: string): string;
  target: LocalTarget;
  protocol: IscsiTarget;
  counters: PlainCounters;
  events: SessionEvent[];
  /** Hand-off states of every completed Normal login (negotiated params). */
  logins: IscsiHandOffState[];
  portal: IscsiPortal;
  close(): Promise<void>;
}

export async function startIscsiStandalone(opts: StandaloneOptions = {}): Promise<Standalone> {
  const targetName = opts.targetName ?? 'iqn.2024-01.org.blockgate:test';
  const log = pino({ level: opts.logLevel ?? 'silent' });
  const counters = new PlainCounters();
  const events: SessionEvent[] = [];
  const sessions = new Map<number, { initiator: string; isid: string; tsih: number; connections: number; maxConnections: number }>();
  const onEvent = (e: SessionEvent) => {
    events.push(e);
    if (e.type === 'session-open') sessions.set(e.sid, { initiator: e.initiator, isid: e.isid ?? '', tsih: e.tsih ?? e.sid, connections: 0, maxConnections: e.maxConnections ?? 1 });
    else if (e.type === 'session-close') sessions.delete(e.sid);
    else if (e.type === 'conn-open') sessions.get(e.sid)!.connections++;
    else if (e.type === 'conn-close' && sessions.has(e.sid)) sessions.get(e.sid)!.connections--;
  };
  const target = new LocalTarget(1, targetName, log, counters, onEvent);
  const devices = opts.devices ?? [new MemoryDevice({ sizeBytes: 64 * 1024 * 1024 })];
  devices.forEach((d, i) => {
    const lun = opts.lunNumbers?.[i] ?? i + 1;
    target.addLun(new Lun(lun, d, defaultLunParams(`bgtest${lun}`), counters, '/tmp'));
  });
  const protocol = new IscsiTarget(target, (t, hooks) => new ScsiTargetDevice(t, hooks), opts.connOptions);
  const entry: IscsiTargetEntry = {
    tid: 1,
    name: targetName,
    canAccess: opts.acl ?? (() => true),
    incoming: opts.incoming ?? [],
    ...(opts.alias ? { alias: opts.alias } : {}),
    ...(opts.outgoing ? { outgoing: opts.outgoing } : {}),
    ...(opts.params ? { params: opts.params } : {}),
  };
  const extra: IscsiTargetEntry[] = (opts.extraTargets ?? []).map((name, i) => ({ tid: 100 + i, name, canAccess: () => true, incoming: [] }));
  const logins: IscsiHandOffState[] = [];
  let nextSid = 1;
  let port = 0;
  const directory: IscsiDirectory = {
    portals: () => [{ address: '127.0.0.1', port, tpgt: 1 }],
    findTarget: (name) => (name === targetName ? entry : extra.find((t) => t.name === name)),
    listTargets: (ini, addr) => [entry, ...extra].filter((t) => t.canAccess(ini, addr)),
    discoveryAuth: () => ({ incoming: opts.discoveryIncoming ?? [], ...(opts.discoveryOutgoing ? { outgoing: opts.discoveryOutgoing } : {}) }),
    findSession: (tid, ini, isid) => {
      if (tid !== 1) return undefined;
      for (const [sid, s] of sessions) if (s.initiator === ini && s.isid === isid) return { sid, tsih: s.tsih, connections: s.connections, maxConnections: s.maxConnections };
      return undefined;
    },
    allocateSid: () => {
      while (sessions.has(nextSid)) nextSid = (nextSid % 65535) + 1;
      const sid = nextSid;
      nextSid = (nextSid % 65535) + 1;
      return sid;
    },
    handOff: (tid, conn) => {
      if (tid !== 1) return void conn.socket.destroy();
      logins.push(conn.state);
      protocol.adopt({
        stream: conn.socket,
        leftover: conn.leftover,
        state: conn.state,
        sid: conn.sid,
        cid: conn.cid,
        peer: `${conn.socket.remoteAddress}:${conn.socket.remotePort}`,
        local: `${conn.socket.localAddress}:${conn.socket.localPort}`,
      });
    },
  };
  const portal = new IscsiPortal({ ...opts.portal, directory, log });
  port = (await portal.listen('127.0.0.1', 0)).port;
  if (opts.redirect) entry.redirect = { ...opts.redirect, port: opts.redirect.port === 'self' ? port : opts.redirect.port };
  return {
    port,
    targetName,
    target,
    protocol,
    counters,
    events,
    logins,
    portal,
    url: (lun = 1, user, password) =>
      `iscsi://${user !== undefined ? `${encodeURIComponent(user)}%${encodeURIComponent(password ?? '')}@` : ''}127.0.0.1:${port}/${targetName}/${lun}`,
    async close() {
      await portal.close();
      for (const s of [...protocol.sessions()]) s.close('test end');
    },
  };
}
