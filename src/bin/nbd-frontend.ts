/**
 * Wires the NBD server (targets/nbd) to the registry: the export table it
 * haggles over and the hand-off into target loops.
 *
 * Exports: an `--lld nbd` target is exported under its target name (its
 * lowest LUN); any LUN of any target with `nbd_export=<name>` is exported
 * under that name too — same target, same loop, one device for both
 * protocols.
 */
import fs from 'node:fs';
import { parseListenAddress, parseSocketMode, UNIX_LISTEN_PREFIX } from '../config/address.js';
import { NBD_DEFAULT_PORT, type DaemonConfig } from '../config/schema.js';
import type { DaemonServices, Frontend } from '../mgmt/daemon.js';
import type { LunRecord, Registry, TargetRecord } from '../mgmt/registry.js';
import type { NbdExportEntry } from '../../targets/nbd/export.js';
import { NbdServer, type NbdDirectory, type NbdServerOptions } from '../../targets/nbd/server.js';
import type { NbdTlsConfig } from '../../targets/nbd/tls.js';

function exportsOf(reg: Registry): Map<string, { rec: TargetRecord; lun: number; l: LunRecord }> {
  const out = new Map<string, { rec: TargetRecord; lun: number; l: LunRecord }>();
  for (const rec of reg.targets.values()) {
    if (rec.state !== 'ready') continue;
    const luns = [...rec.luns].sort((a, b) => a[0] - b[0]);
    if (rec.cfg.lld === 'nbd' && luns[0]) out.set(rec.cfg.name, { rec, lun: luns[0][0], l: luns[0][1] });
    for (const [lun, l] of luns) if (l.cfg.nbdExport) out.set(l.cfg.nbdExport, { rec, lun, l });
  }
  return out;
}

export function nbdDirectory(services: DaemonServices): NbdDirectory {
  const reg = services.registry;
  return {
    list: () => [...exportsOf(reg).keys()].map((name) => ({ name })),
    defaultExport: () => services.config().nbd?.defaultExport,
    lookup(name: string): NbdExportEntry | undefined {
      const e = exportsOf(reg).get(name);
      if (!e) return undefined;
      return {
        name,
        tid: e.rec.cfg.tid,
        lun: e.lun,
        info: e.l.info,
        readOnly: e.l.params.readOnly,
        thinProvisioning: e.l.params.thinProvisioning,
        tls: services.config().nbd?.tls ?? 'off',
      };
    },
    allocateSid: () => reg.allocateSid(),
    handOff(tid, conn) {
      const rec = reg.targets.get(tid);
      if (!rec) {
        conn.stream.destroy();
        return;
      }
      rec.runtime
        .handOff({ protocol: 'nbd', stream: conn.stream, leftover: conn.leftover, state: conn.state, sid: conn.sid, cid: 0 })
        .catch((err: Error) => {
          services.log.warn({ target: rec.cfg.name, err: err.message }, 'nbd hand-off failed');
          conn.stream.destroy();
        });
    },
  };
}

export function nbdTlsConfig(cfg: DaemonConfig): NbdTlsConfig | undefined {
  const n = cfg.nbd;
  if (!n || !n.tls || n.tls === 'off') return undefined;
  return {
    mode: n.tls,
    ...(n.tlsCert ? { cert: fs.readFileSync(n.tlsCert) } : {}),
    ...(n.tlsKey ? { key: fs.readFileSync(n.tlsKey) } : {}),
    ...(n.tlsCa ? { ca: fs.readFileSync(n.tlsCa) } : {}),
    ...(n.tlsVerifyPeer !== undefined ? { verifyClient: n.tlsVerifyPeer } : {}),
    ...(n.tlsPskFile ? { pskFile: n.tlsPskFile } : {}),
  };
}

/** The handshake limits of docs/config.md `nbd.*`; unset keys keep the server's defaults. */
export function nbdHandshakeLimits(cfg: DaemonConfig): Pick<NbdServerOptions, 'maxHandshakes' | 'maxHandshakesPerAddress' | 'handshakeTimeoutMs'> {
  const n = cfg.nbd ?? {};
  return {
    ...(n.maxHandshakes !== undefined ? { maxHandshakes: n.maxHandshakes } : {}),
    ...(n.maxHandshakesPerAddress !== undefined ? { maxHandshakesPerAddress: n.maxHandshakesPerAddress } : {}),
    ...(n.handshakeTimeoutSeconds !== undefined ? { handshakeTimeoutMs: n.handshakeTimeoutSeconds * 1000 } : {}),
  };
}

export function nbdFrontend(services: DaemonServices): Frontend {
  const cfg = services.config();
  const tls = nbdTlsConfig(cfg);
  const server = new NbdServer({ directory: nbdDirectory(services), log: services.log, ...(tls ? { tls } : {}), ...nbdHandshakeLimits(cfg) });
  return {
    protocol: 'nbd',
    /** TCP: the bound address and port; Unix socket: "unix:/path", port 0. */
    async listen(address) {
      const where = parseListenAddress(address, NBD_DEFAULT_PORT);
      if (typeof where === 'string') throw new Error(`nbd listen address: ${where}`);
      if (where.kind === 'unix') {
        const mode = parseSocketMode(services.config().nbd?.unixSocketMode ?? '0600');
        if (typeof mode === 'string') throw new Error(`nbd.unixSocketMode: ${mode}`);
        await server.listenUnix(where.path, mode);
        return { address: `${UNIX_LISTEN_PREFIX}${where.path}`, port: 0 };
      }
      const bound = await server.listen(where.port, where.host);
      return { address: bound.address, port: bound.port };
    },
    close: () => server.close(),
  };
}
