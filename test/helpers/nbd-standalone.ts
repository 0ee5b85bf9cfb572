/**
 * In-process NBD harness: the NBD server on 127.0.0.1:0 with a tiny
 * NbdDirectory whose handOff adopts the connection on the same thread
 * (LocalTarget + Lun over a MemoryDevice or a sparse FileDevice).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { MemoryDevice } from '../../backends/memory/device.js';
import { FileDevice } from '../../backends/file/device.js';
import type { BlockDevice } from '../../src/block/device.js';
import type { SessionEvent } from '../../src/worker/contract.js';
import { LocalTarget, Lun, PlainCounters, defaultLunParams } from '../../src/worker/local-target.js';
import type { NbdExportEntry, NbdTlsPolicy } from '../../targets/nbd/export.js';
import { NbdServer, type NbdDirectory, type NbdHandOffConnection } from '../../targets/nbd/server.js';
import type { NbdTlsConfig } from '../../targets/nbd/tls.js';
import { NbdTarget } from '../../targets/nbd/transmission.js';
import type { ConnectionLimits } from '../../targets/nbd/connection.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../targets/nbd/connection.js';

export interface StandaloneExport {
  name: string;
  sizeBytes: number;
  backend?: 'memory' | 'file';
  readOnly?: boolean;
  description?: string;
  tls?: NbdTlsPolicy;
  blockSize?: number;
  blockSizeRequired?: boolean;
  thinProvisioning?: boolean;
}

export interface StandaloneOptions {
  exports: StandaloneExport[];
  defaultExport?: string;
  tls?: NbdTlsConfig;
  limits?: Partial<ConnectionLimits>;
  handshakeTimeoutMs?: number;
  host?: string;
}

export interface Standalone {
  server: NbdServer;
  port: number;
  host: string;
  uri(name: string, scheme?: 'nbd' | 'nbds'): string;
  device(name: string): BlockDevice;
  counters: PlainCounters;
  events: SessionEvent[];
  protocol: NbdTarget;
  target: LocalTarget;
  tmpDir: string;
  close(): Promise<void>;
}

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  const log = pino({ level: process.env.NBD_TEST_LOG ?? 'silent' });
  const counters = new PlainCounters();
  const events: SessionEvent[] = [];
  const target = new LocalTarget(1, 'iqn.test:nbd', log, counters, (e) => events.push(e));
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbd-standalone-'));
  const entries = new Map<string, NbdExportEntry>();
  const devices = new Map<string, BlockDevice>();
  let lunNo = 0;
  for (const e of opts.exports) {
    const dev = await openDevice(e, tmpDir);
    const lun = new Lun(lunNo, dev, defaultLunParams(`ser-${e.name}`, { readOnly: !!e.readOnly }), counters, tmpDir);
    target.addLun(lun);
    devices.set(e.name, lun.device);
    entries.set(e.name, {
      name: e.name,
      tid: 1,
      lun: lunNo,
      info: dev.info,
      readOnly: !!e.readOnly || dev.info.readOnly,
      thinProvisioning: e.thinProvisioning ?? true,
      description: e.description,
      tls: e.tls ?? 'off',
      blockSizeRequired: e.blockSizeRequired,
    });
    lunNo++;
  }
  const protocol = new NbdTarget(target, { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits });
  let sid = 0;
  const directory: NbdDirectory = {
    list: () => [...entries.values()].map((e) => ({ name: e.name, description: e.description })),
    lookup: (name) => entries.get(name),
    defaultExport: () => opts.defaultExport,
    allocateSid: () => ++sid,
    handOff: (_tid: number, c: NbdHandOffConnection) => protocol.adopt({ ...c, cid: 0 }),
  };
  const server = new NbdServer({ directory, log, tls: opts.tls, handshakeTimeoutMs: opts.handshakeTimeoutMs });
  const host = opts.host ?? '127.0.0.1';
  const addr = await server.listen(0, host);
  const hostInUri = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port: addr.port,
    host,
    uri: (name, scheme = 'nbd') => `${scheme}://${hostInUri}:${addr.port}/${encodeURIComponent(name)}`,
    device: (name) => devices.get(name)!,
    counters,
    events,
    protocol,
    target,
    tmpDir,
    async close() {
      await server.close();
      await protocol.shutdown('test over', 2000);
      for (const d of devices.values()) await d.close().catch(() => undefined);
      fs.rmSync(tmpDir, { recursive: true, force: true });
    },
  };
}

async function openDevice(e: StandaloneExport, dir: string): Promise<BlockDevice> {
  if ((e.backend ?? 'memory') === 'memory') {
    return new MemoryDevice({ sizeBytes: e.sizeBytes, blockSize: e.blockSize, readOnly: e.readOnly, serial: e.name });
  }
  return FileDevice.open({
    path: path.join(dir, `${e.name}.img`),
    createSizeBytes: e.sizeBytes,
    readOnly: e.readOnly,
    blockSize: e.blockSize,
    serial: e.name,
  });
}
