/**
 * Semantic checks on a DaemonConfig, shared by the YAML and targets.conf
 * loaders (the shape was already checked by the loader). Each issue names a
 * file and a line via the `locate` callback, which maps a config path such
 * as "targets.0.luns.1.lun" to where that value was written.
 */
import { parseIdentityId } from '../util/identity-id.js';
import { isOwnEndpoint, type Endpoint } from '../util/self-endpoint.js';
import { checkAclAddress, parseHostPort, parseListenAddress, parseSocketMode } from './address.js';
import { parseNaaCompanyId } from './lun-params.js';
import { ISCSI_DEFAULT_PORT, NBD_DEFAULT_PORT, type DaemonConfig, type TargetConfig } from './schema.js';

export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem is the file as a whole. */
  line: number;
  reason: string;
}

export type LoadResult =
  | { ok: true; config: DaemonConfig; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[] };

export function formatIssue(i: ConfigIssue): string {
  return i.line > 0 ? `${i.file}:${i.line}: ${i.reason}` : `${i.file}: ${i.reason}`;
}

export type Locate = (path: string) => { file: string; line: number };

/** tgt's SAM flat LUN space: LUN 0 is the controller. */
export const MAX_LUN = 16383;

export function validateConfig(config: DaemonConfig, locate: Locate): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const report = (path: string, reason: string): void => {
    issues.push({ ...locate(path), reason });
  };
  checkListen(config.iscsiPortals, 'iscsiPortals', ISCSI_DEFAULT_PORT, report);
  config.nbdListen.forEach((addr, i) => {
    const l = parseListenAddress(addr, NBD_DEFAULT_PORT);
    if (typeof l === 'string') report(`nbdListen.${i}`, l);
  });
  const mode = config.nbd?.unixSocketMode;
  if (mode !== undefined && typeof parseSocketMode(mode) === 'string') report('nbd.unixSocketMode', parseSocketMode(mode) as string);
  if (config.metricsListen !== undefined && config.metricsListen !== 'off') {
    const hp = parseHostPort(config.metricsListen, 9500);
    if (typeof hp === 'string') report('metricsListen', hp);
  }
  const users = checkAccounts(config, report);
  config.discovery.incomingUsers.forEach((u, i) => {
    if (!users.has(u)) report(`discovery.incomingUsers.${i}`, `unknown account ${JSON.stringify(u)}`);
  });
  const out = config.discovery.outgoingUser;
  if (out !== undefined && !users.has(out)) report('discovery.outgoingUser', `unknown account ${JSON.stringify(out)}`);
  if (config.naaCompanyId !== undefined && parseNaaCompanyId(config.naaCompanyId) === undefined) {
    report('naaCompanyId', 'naaCompanyId must be a 24-bit IEEE company id: 6 hex digits, e.g. "001405"');
  }
  checkTargets(config, users, report);
  checkRedirects(config, report);
  return sortIssues(issues);
}

type Report = (path: string, reason: string) => void;

/** A target redirected to one of this daemon's own iSCSI portals would redirect every login again (a loop). */
function checkRedirects(config: DaemonConfig, report: Report): void {
  const portals: Endpoint[] = config.iscsiPortals.flatMap((p) => {
    const hp = parseHostPort(p, ISCSI_DEFAULT_PORT);
    return typeof hp === 'string' || hp.port === 0 ? [] : [{ address: hp.host, port: hp.port }];
  });
  config.targets.forEach((t, ti) => {
    const address = t.params.RedirectAddress;
    if (!address) return;
    const port = Number(t.params.RedirectPort ?? ISCSI_DEFAULT_PORT);
    if (isOwnEndpoint({ address, port }, portals)) {
      report(`targets.${ti}.params.RedirectAddress`, `redirect to ${address}:${port} is this daemon's own portal (it would loop)`);
    }
  });
}

function checkListen(list: string[], key: string, port: number, report: Report): void {
  list.forEach((addr, i) => {
    if (addr.trim().startsWith('unix:')) return report(`${key}.${i}`, 'Unix sockets are for nbdListen only');
    const hp = parseHostPort(addr, port);
    if (typeof hp === 'string') report(`${key}.${i}`, hp);
  });
}

function checkAccounts(config: DaemonConfig, report: Report): Set<string> {
  const users = new Set<string>();
  config.accounts.forEach((a, i) => {
    if (users.has(a.user)) report(`accounts.${i}.user`, `duplicate account ${JSON.stringify(a.user)}`);
    users.add(a.user);
    if (a.user === '' || /[\s,]/.test(a.user)) report(`accounts.${i}.user`, 'user name must be non-empty, without spaces or commas');
    if (a.password === '' || /[\s,]/.test(a.password)) {
      report(`accounts.${i}.password`, 'password must be non-empty, without spaces or commas');
    }
  });
  return users;
}

function checkTargets(config: DaemonConfig, users: Set<string>, report: Report): void {
  const tids = new Set<number>();
  const names = new Set<string>();
  const exports = new Set<string>();
  const ids = new Set<string>();
  config.targets.forEach((t, ti) => {
    const at = `targets.${ti}`;
    if (tids.has(t.tid)) report(`${at}.tid`, `duplicate tid ${t.tid}`);
    tids.add(t.tid);
    if (names.has(t.name)) report(`${at}.name`, `duplicate target name ${JSON.stringify(t.name)}`);
    names.add(t.name);
    if (t.name === '' || /\s/.test(t.name)) report(`${at}.name`, 'target name must be non-empty without spaces');
    checkLuns(t, at, exports, ids, report);
    t.incomingUsers.forEach((u, i) => {
      if (!users.has(u)) report(`${at}.incomingUsers.${i}`, `unknown account ${JSON.stringify(u)}`);
    });
    if (t.outgoingUser !== undefined && !users.has(t.outgoingUser)) {
      report(`${at}.outgoingUser`, `unknown account ${JSON.stringify(t.outgoingUser)}`);
    }
    t.acl.addresses.forEach((a, i) => {
      const why = checkAclAddress(a);
      if (why !== undefined) report(`${at}.acl.addresses.${i}`, why);
    });
  });
}

function checkLuns(t: TargetConfig, at: string, exports: Set<string>, ids: Set<string>, report: Report): void {
  const luns = new Set<number>();
  t.luns.forEach((l, li) => {
    const lp = `${at}.luns.${li}`;
    if (l.lun < 1 || l.lun > MAX_LUN) report(`${lp}.lun`, `lun must be 1..${MAX_LUN} (LUN 0 is the controller)`);
    if (luns.has(l.lun)) report(`${lp}.lun`, `duplicate lun ${l.lun} in target ${t.tid}`);
    luns.add(l.lun);
    if (l.backingStore === '' && l.bstype !== 'memory') report(`${lp}.backingStore`, 'backingStore is required');
    if (l.bstype === 'memory' && l.sizeBytes === undefined) report(`${lp}.sizeBytes`, 'a memory LUN needs sizeBytes');
    if (l.bsoflags !== undefined && !/^(sync|direct|sync:direct|direct:sync)$/.test(l.bsoflags)) {
      report(`${lp}.bsoflags`, "bsoflags must be 'sync', 'direct' or 'sync:direct'");
    }
    if (l.blockSize !== undefined && ![512, 1024, 2048, 4096].includes(l.blockSize)) {
      report(`${lp}.blockSize`, 'blockSize must be 512, 1024, 2048 or 4096');
    }
    if (l.nbdExport !== undefined) {
      if (exports.has(l.nbdExport)) report(`${lp}.nbdExport`, `duplicate NBD export ${JSON.stringify(l.nbdExport)}`);
      exports.add(l.nbdExport);
    }
    if (l.uuid !== undefined) {
      // Two LUNs with one identity are one disk to multipath: refuse it (a copied LUN block keeps its uuid).
      const id = parseIdentityId(l.uuid);
      if (id === undefined) report(`${lp}.uuid`, 'uuid must be 32 hex digits (or 8-4-4-4-12), not all zero');
      else if (ids.has(id)) report(`${lp}.uuid`, `duplicate LUN uuid ${id}: every LUN needs its own (delete the line to get a new one)`);
      else ids.add(id);
    }
    checkLength(l.vendorId, 8, `${lp}.vendorId`, report);
    checkLength(l.productId, 16, `${lp}.productId`, report);
    checkLength(l.productRev, 4, `${lp}.productRev`, report);
  });
}

function checkLength(v: string | undefined, max: number, path: string, report: Report): void {
  if (v !== undefined && v.length > max) report(path, `at most ${max} characters (SPC-4 INQUIRY field)`);
}

/** File order, then line order (stable): the order a reader fixes them in. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
}
