import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigYaml } from '../../../src/config/load.js';
import { saveConfigAtomic, stringifyConfig } from '../../../src/config/save.js';
import type { DaemonConfig } from '../../../src/config/schema.js';
import { configToRequests } from '../../../src/config/to-requests.js';
import { formatIssue } from '../../../src/config/validate.js';

const confDir = new URL('../../../conf/', import.meta.url).pathname;

function mustLoad(text: string): DaemonConfig {
  const r = parseConfigYaml(text, 'test.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

function errorsOf(text: string): string[] {
  const r = parseConfigYaml(text, 'bad.yaml');
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.errors.map(formatIssue);
}

describe('YAML config loader', () => {
  it('applies defaults: portals, tids, lld, bstype, ACL ALL', () => {
    const c = mustLoad('targets:\n  - name: iqn.a\n    luns: [{lun: 1, backingStore: /x}]\n  - name: iqn.b\n');
    expect(c.iscsiPortals).toEqual(['127.0.0.1:3260']); // loopback only unless asked (#12 item 19)
    expect(c.nbdListen).toEqual(['127.0.0.1:10809']);
    expect(c.targets.map((t) => t.tid)).toEqual([1, 2]);
    expect(c.targets[0]).toEqual({
      tid: 1, name: 'iqn.a', lld: 'iscsi', luns: [{ lun: 1, backingStore: '/x', bstype: 'file' }], incomingUsers: [],
      acl: { addresses: ['ALL'], names: [] }, params: {},
    });
  });

  it('an empty file is the default config', () => {
    expect(mustLoad('')).toEqual({ iscsiPortals: ['127.0.0.1:3260'], nbdListen: ['127.0.0.1:10809'], accounts: [], discovery: { incomingUsers: [] }, targets: [] });
  });

  it('nbdListen takes unix:/path; the NBD handshake limits and socket mode load (#12 items 2, 17)', () => {
    const c = mustLoad([
      'iscsiPortals: [0.0.0.0:3260]',
      'nbdListen: [unix:/run/blockgate/nbd.sock, "[::1]:10809"]',
      'nbd:',
      '  maxHandshakes: 300',
      '  maxHandshakesPerAddress: 16',
      '  handshakeTimeoutSeconds: 5',
      '  unixSocketMode: "0660"',
    ].join('\n'));
    expect(c.iscsiPortals).toEqual(['0.0.0.0:3260']); // an explicit address binds where asked
    expect(c.nbdListen).toEqual(['unix:/run/blockgate/nbd.sock', '[::1]:10809']);
    expect(c.nbd).toEqual({ maxHandshakes: 300, maxHandshakesPerAddress: 16, handshakeTimeoutSeconds: 5, unixSocketMode: '0660' });
    const errs = errorsOf([
      'nbdListen: [unix:relative.sock]', // 1
      'iscsiPortals: [unix:/x.sock]', // 2
      'nbd:',
      '  maxHandshakes: 0', // 4
      '  unixSocketMode: "0999"', // 5
    ].join('\n'));
    expect(errs.some((e) => e.startsWith('bad.yaml:4:') && e.includes('maxHandshakes'))).toBe(true);
    const sem = errorsOf('nbdListen: [unix:relative.sock]\niscsiPortals: [unix:/x.sock]\nnbd:\n  unixSocketMode: "0999"\n');
    expect(sem.join('\n')).toMatch(/bad.yaml:1: .*absolute/);
    expect(sem.join('\n')).toMatch(/bad.yaml:2: .*nbdListen only/);
    expect(sem.join('\n')).toMatch(/bad.yaml:4: .*socket mode/);
    for (const unquoted of ['0660', '0o660']) expect(errorsOf(`nbd:\n  unixSocketMode: ${unquoted}\n`).join()).toMatch(/bad.yaml:2: .*quoted octal/);
  });

  it('the iSCSI login limits load, are range-checked and survive a save (#12 item 2)', () => {
    const c = mustLoad('iscsi:\n  maxLogins: 300\n  maxLoginsPerAddress: 100\n  loginTimeoutSeconds: 20\n');
    expect(c.iscsi).toEqual({ maxLogins: 300, maxLoginsPerAddress: 100, loginTimeoutSeconds: 20 });
    expect(mustLoad(stringifyConfig(c)).iscsi).toEqual(c.iscsi);
    const errs = errorsOf('iscsi:\n  maxLogins: 0\n  loginTimeoutSeconds: 3601\n  maxLoginsPerAddres: 5\n');
    expect(errs.some((e) => e.startsWith('bad.yaml:2:') && e.includes('iscsi.maxLogins'))).toBe(true);
    expect(errs.some((e) => e.startsWith('bad.yaml:3:') && e.includes('iscsi.loginTimeoutSeconds'))).toBe(true);
    expect(errs.some((e) => e.startsWith('bad.yaml:4:') && e.includes('unknown key "iscsi.maxLoginsPerAddres"'))).toBe(true);
  });

  it('reports file, line and reason for shape errors', () => {
    const errs = errorsOf([
      'iscsiPortals: 0.0.0.0:3260', // line 1: not a list
      'logLevel: loud', // 2
      'singleLoop: yes', // 3 (YAML 1.2: a string)
      'frobnicate: 1', // 4
      'targets:', // 5
      '  - tid: 0', // 6
      '    name: iqn.x', // 7
      '    luns:', // 8
      '      - backingStore: /x', // 9: missing lun
    ].join('\n'));
    expect(errs).toEqual([
      'bad.yaml:1: iscsiPortals: expected a list',
      'bad.yaml:2: logLevel: must be one of fatal, error, warn, info, debug, trace, silent',
      'bad.yaml:3: singleLoop: expected true or false',
      'bad.yaml:4: unknown key "frobnicate"',
      'bad.yaml:6: targets.0.tid: must be 1..2147483647',
      'bad.yaml:9: targets.0.luns.0: missing required key "lun"',
    ]);
  });

  it('reports semantic errors at the offending line', () => {
    const errs = errorsOf([
      'accounts:', // 1
      '  - {user: alice, password: secretsecret}', // 2
      'targets:', // 3
      '  - tid: 1', // 4
      '    name: iqn.a', // 5
      '    incomingUsers: [alice, bob]', // 6
      '    luns:', // 7
      '      - {lun: 1, backingStore: /a}', // 8
      '      - {lun: 1, backingStore: /b, vendorId: WAYTOOLONGVENDOR}', // 9
      '    acl: {addresses: [300.1.1.1], names: []}', // 10
      '  - tid: 1', // 11
      '    name: iqn.a', // 12
    ].join('\n'));
    expect(errs).toEqual([
      'bad.yaml:6: unknown account "bob"',
      'bad.yaml:9: duplicate lun 1 in target 1',
      'bad.yaml:9: at most 8 characters (SPC-4 INQUIRY field)',
      'bad.yaml:10: "300.1.1.1" is not ALL, an IP address or a CIDR',
      'bad.yaml:11: duplicate tid 1',
      'bad.yaml:12: duplicate target name "iqn.a"',
    ]);
  });

  it('YAML syntax errors carry a line', () => {
    const errs = errorsOf('targets:\n  - name: a\n  name: [\n');
    expect(errs.length).toBeGreaterThan(0);
    expect(errs[0]).toMatch(/^bad\.yaml:\d+: /);
    expect(errorsOf('a: 1\na: 2\n')[0]).toMatch(/^bad\.yaml:2: .*unique/);
  });

  it('sizeBytes takes the shared size syntax; a bad one says why, with its line', () => {
    const lun = (size: string): string => `targets:\n  - name: t\n    luns: [{lun: 1, backingStore: /x, sizeBytes: ${size}}]\n`;
    expect(mustLoad(lun('512M')).targets[0]!.luns[0]!.sizeBytes).toBe(512 * 2 ** 20);
    expect(mustLoad(lun('10GB')).targets[0]!.luns[0]!.sizeBytes).toBe(10 * 2 ** 30);
    expect(errorsOf(lun('12Q'))).toEqual([
      'bad.yaml:3: targets.0.luns.0.sizeBytes: invalid size "12Q": expected a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)',
    ]);
  });

  it('sizes and params', () => {
    const c = mustLoad('targets:\n  - name: t\n    luns: [{lun: 1, backingStore: "", bstype: memory, sizeBytes: 1GiB}]\n    params: {InitialR2T: true, MaxBurstLength: 65536}\n');
    expect(c.targets[0]!.luns[0]!.sizeBytes).toBe(2 ** 30);
    expect(c.targets[0]!.params).toEqual({ InitialR2T: 'Yes', MaxBurstLength: '65536' });
  });
});

describe('example configs in conf/ load cleanly', () => {
  for (const f of ['blockgate.yaml', 'multi-target.yaml', 'chunk.yaml', 'targets.conf']) {
    it(f, async () => {
      const r = await loadConfigFile(join(confDir, f));
      if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
      expect(r.config.targets.length).toBeGreaterThan(0);
    });
  }
  it('chunk.yaml has a chunk LUN', async () => {
    const r = await loadConfigFile(join(confDir, 'chunk.yaml'));
    expect(r.ok && r.config.targets[0]!.luns[0]!.bstype).toBe('chunk');
  });
});

describe('save: atomic, round-trips', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-conf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('load(save(x)) deep-equals x for every example', async () => {
    for (const f of ['blockgate.yaml', 'multi-target.yaml', 'chunk.yaml', 'targets.conf']) {
      const r = await loadConfigFile(join(confDir, f));
      if (!r.ok) throw new Error(f);
      const path = join(dir, `${f}.yaml`);
      await saveConfigAtomic(path, r.config);
      const back = await loadConfigFile(path);
      expect(back.ok && back.config).toEqual(r.config);
      await saveConfigAtomic(path, r.config); // overwrite works
      expect(readFileSync(path, 'utf8')).toBe(stringifyConfig(r.config));
    }
  });

  it('replyBudget sizes (#12 item 3) load with units and survive a save', async () => {
    const src = join(dir, 'budget.yaml');
    writeFileSync(src, 'replyBudget:\n  perConnection: 8MiB\n  daemon: 1GiB\ntargets: []\n');
    const r = await loadConfigFile(src);
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.replyBudget).toEqual({ perConnection: 8 << 20, daemon: 1 << 30 });
    const path = join(dir, 'budget-saved.yaml');
    await saveConfigAtomic(path, r.config);
    const back = await loadConfigFile(path);
    expect(back.ok && back.config.replyBudget).toEqual(r.config.replyBudget);
  });

  it('leaves no temporary files behind', async () => {
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('configToRequests', () => {
  it('accounts, discovery, target, params, LUNs, bindings in tgt-admin order', async () => {
    const r = await loadConfigFile(join(confDir, 'multi-target.yaml'));
    if (!r.ok) throw new Error('load');
    const reqs = configToRequests(r.config);
    const summary = reqs.map((q) => `${q.mode}/${q.op}${q.tid ? `/${q.tid}` : ''}`);
    expect(summary.slice(0, 5)).toEqual(['account/new', 'account/new', 'account/new', 'account/bind', 'target/new/1']);
    expect(reqs).toContainEqual({ kind: 'tgtadm', lld: 'iscsi', mode: 'account', op: 'bind', user: 'disco' });
    expect(reqs).toContainEqual({ kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'target', op: 'update', name: 'TargetAlias', value: 'database volumes' });
    expect(reqs).toContainEqual({
      kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'logicalunit', op: 'new', lun: 2, backingStore: '/srv/blockgate/db-log.img', bstype: 'file',
      params: { size: String(8 * 2 ** 30), write_cache: '0', nbd_export: 'db-log' },
    });
    expect(reqs).toContainEqual({ kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'account', op: 'bind', user: 'target-out', outgoing: true });
    expect(reqs).toContainEqual({ kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'target', op: 'bind', initiatorAddress: '10.1.0.0/16' });
    expect(reqs).toContainEqual({ kind: 'tgtadm', lld: 'nbd', tid: 3, mode: 'target', op: 'new', targetname: 'scratch' });
    // a target is created before anything refers to its tid
    const firstUse = reqs.findIndex((q) => q.tid === 2);
    expect(reqs[firstUse]).toMatchObject({ mode: 'target', op: 'new' });
  });
});
