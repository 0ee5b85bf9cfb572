import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/load.js';
import { parseTargetsConf, type TargetsConfIo } from '../../../src/config/targets-conf.js';
import { formatIssue } from '../../../src/config/validate.js';
import { configToRequests } from '../../../src/config/to-requests.js';
import { volumeNameOf } from '../../../backends/chunk/client/options.js';

function memIo(files: Record<string, string>): TargetsConfIo {
  return {
    readFile: (p) => files[p],
    glob: (pattern) => {
      const re = new RegExp('^' + pattern.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*') + '$');
      return Object.keys(files).filter((f) => re.test(f)).sort();
    },
  };
}

function parse(files: Record<string, string>, main = '/etc/tgt/targets.conf') {
  return parseTargetsConf(main, memIo(files));
}

describe('targets.conf parser', () => {
  it('the annotated example in conf/ becomes the expected config', async () => {
    const r = await loadConfigFile(join(new URL('../../../conf/', import.meta.url).pathname, 'targets.conf'));
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    const [simple, multi, blocks] = r.config.targets;
    expect(simple).toEqual({
      tid: 1, name: 'iqn.2024-01.org.blockgate:simple', lld: 'iscsi', incomingUsers: [], acl: { addresses: ['ALL'], names: [] }, params: {},
      luns: [{ lun: 1, backingStore: '/var/lib/blockgate/simple.img', bstype: 'file' }],
    });
    expect(multi!.tid).toBe(2);
    expect(multi!.luns.map((l) => [l.lun, l.vendorId, l.writeCache])).toEqual([[1, 'BLKGATE', false], [2, 'BLKGATE', false]]);
    expect(multi!.incomingUsers).toEqual(['alice']);
    expect(multi!.outgoingUser).toBe('target-out');
    expect(multi!.acl).toEqual({ addresses: ['192.168.10.0/24'], names: ['iqn.1994-05.com.redhat:client1'] });
    expect(multi!.params).toEqual({ MaxRecvDataSegmentLength: '262144', nop_interval: '5' });
    expect(blocks!.tid).toBe(10);
    expect(blocks!.luns).toEqual([
      { lun: 5, backingStore: '/var/lib/blockgate/blocks-a.img', bstype: 'file', serial: 'blocks-a', readOnly: true },
      { lun: 1, backingStore: '/var/lib/blockgate/blocks-b.img', bstype: 'file', serial: 'target-default-sn', bsoflags: 'direct',
        thinProvisioning: true, sizeBytes: 10 * 2 ** 30 },
      { lun: 7, backingStore: '/vol1', bstype: 'chunk', serial: 'target-default-sn' },
    ]);
    expect(r.config.accounts.map((a) => a.user)).toEqual(['discovery', 'alice', 'target-out']);
    expect(r.config.discovery).toEqual({ incomingUsers: ['discovery'] });
  });

  it('backing-store LUNs are numbered before direct-store ones; direct-store warns', () => {
    const r = parse({ '/etc/tgt/targets.conf': '<target iqn.t>\n  direct-store /dev/sdb\n  backing-store /dev/sdc\n  direct-store /dev/sdd\n  backing-store /dev/sde\n</target>\n' });
    if (!r.ok) throw new Error('load');
    expect(r.config.targets[0]!.luns.map((l) => `${l.lun}:${l.backingStore}`)).toEqual(['1:/dev/sdc', '2:/dev/sde', '3:/dev/sdb', '4:/dev/sdd']);
    expect(r.warnings.map((w) => w.line)).toEqual([2, 4]);
  });

  it('target-level lun applies to a single store; with several it is an error', () => {
    const one = parse({ '/etc/tgt/targets.conf': '<target iqn.t>\n  backing-store /a\n  lun 10\n</target>\n' });
    expect(one.ok && one.config.targets[0]!.luns[0]!.lun).toBe(10);
    const two = parse({ '/etc/tgt/targets.conf': '<target iqn.t>\n  backing-store /a\n  backing-store /b\n  lun 10\n</target>\n' });
    expect(two.ok ? [] : two.errors.map(formatIssue)).toEqual([
      "/etc/tgt/targets.conf:4: a target-level 'lun' needs exactly one backing-store; put 'lun' inside <backing-store> blocks",
    ]);
  });

  it('includes (relative and globbed), with errors naming the included file', () => {
    const r = parse({
      '/etc/tgt/targets.conf': 'default-driver iscsi\ninclude conf.d/*.conf\n',
      '/etc/tgt/conf.d/a.conf': '<target iqn.a>\n  backing-store /a\n</target>\n',
      '/etc/tgt/conf.d/b.conf': '<target iqn.b>\n  backing-store /b\n  bs-type rbd\n  frob 1\n</target>\n',
    });
    expect(r.ok ? [] : r.errors.map(formatIssue)).toEqual([
      '/etc/tgt/conf.d/b.conf:3: backing store type "rbd" is not supported (rdwr, aio, file, chunk, curve, memory)',
      '/etc/tgt/conf.d/b.conf:4: unknown target directive "frob"',
    ]);
    const ok = parse({ '/etc/tgt/targets.conf': 'include conf.d/*.conf\n', '/etc/tgt/conf.d/a.conf': '<target iqn.a>\n</target>\n' });
    expect(ok.ok && ok.config.targets.map((t) => t.name)).toEqual(['iqn.a']);
  });

  it('include cycles and unclosed blocks are reported with lines', () => {
    const cyc = parse({ '/etc/tgt/targets.conf': 'include /etc/tgt/targets.conf\n' });
    expect(cyc.ok ? [] : cyc.errors.map(formatIssue)).toEqual(['/etc/tgt/targets.conf:1: include cycle through /etc/tgt/targets.conf']);
    const open = parse({ '/etc/tgt/targets.conf': '\n<target iqn.a>\n  <backing-store /x>\n    lun 3\n</target>\n' });
    expect(open.ok ? [] : open.errors.map(formatIssue)).toEqual([
      '/etc/tgt/targets.conf:3: <backing-store> is never closed',
      '/etc/tgt/targets.conf:5: unexpected </target>',
    ]);
  });

  it('tgt-style mistakes: duplicate controller_tid, same target twice, unsupported device type, account clash', () => {
    const r = parse({
      '/etc/tgt/targets.conf': [
        '<target iqn.x>', // 1
        '  controller_tid 10', // 2
        '  incominguser u pw1', // 3
        '</target>', // 4
        '<target iqn.x>', // 5
        '  controller_tid 10', // 6
        '  incominguser u pw2', // 7
        '  <direct-store /dev/sdd>', // 8
        '    device-type cd', // 9
        '  </direct-store>', // 10
        '</target>', // 11
      ].join('\n'),
    });
    expect(r.ok ? [] : r.errors.map(formatIssue)).toEqual([
      '/etc/tgt/targets.conf:7: account "u" is defined again with a different password',
      '/etc/tgt/targets.conf:9: device-type "cd" is not supported (disk)',
    ]);
    const dup = parse({ '/etc/tgt/targets.conf': '<target iqn.x>\n controller_tid 10\n</target>\n<target iqn.x>\n controller_tid 10\n</target>\n' });
    expect(dup.ok ? [] : dup.errors.map(formatIssue)).toEqual([
      '/etc/tgt/targets.conf:4: duplicate tid 10',
      '/etc/tgt/targets.conf:4: duplicate target name "iqn.x"',
    ]);
  });

  it('vendor_id longer than 8 characters is truncated like tgt, with a warning; key = value syntax', () => {
    const r = parse({ '/etc/tgt/targets.conf': '<target iqn.t>\n  backing-store /a\n  vendor_id = MyCompany Inc.\n</target>\n' });
    expect(r.ok && r.config.targets[0]!.luns[0]!.vendorId).toBe('MyCompan');
    expect(r.ok && r.warnings.map(formatIssue)).toEqual(['/etc/tgt/targets.conf:3: vendor_id truncated to 8 characters']);
  });

  it('goes through the same requests as bgadm (ACL ALL when no initiator-address)', () => {
    const r = parse({ '/etc/tgt/targets.conf': '<target iqn.t>\n  backing-store /a\n  initiator-name iqn.i\n</target>\n' });
    if (!r.ok) throw new Error('load');
    const binds = configToRequests(r.config).filter((q) => q.op === 'bind');
    expect(binds).toEqual([
      { kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'target', op: 'bind', initiatorAddress: 'ALL' },
      { kind: 'tgtadm', lld: 'iscsi', tid: 1, mode: 'target', op: 'bind', initiatorName: 'iqn.i' },
    ]);
  });

  it("curve-tgt's bs-type curve and our chunk: cbd:pool//vol_user_ and plain volume names, bsopts", () => {
    const r = parse({ '/etc/tgt/targets.conf': [
      '<target iqn.2019-04.com.example:curve.img01>',
      '  bs-type curve',
      '  backing-store cbd:pool//vol1_user_',
      '  bsopts "mds=127.0.0.1:6700,127.0.0.1:6710;timeout=30"',
      '</target>',
      '<target iqn.b>',
      '  bs-type chunk',
      '  <backing-store vol2>',
      '    bsopts mds=127.0.0.1:6700',
      '    size 1G',
      '    nbd-export vol2',
      '  </backing-store>',
      '  <backing-store /vol3>',
      '    bs-type rdwr',
      '  </backing-store>',
      '</target>',
      '',
    ].join('\n') });
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    const [curve, chunk] = r.config.targets;
    expect(curve!.luns).toEqual([{ lun: 1, backingStore: 'cbd:pool//vol1_user_', bstype: 'chunk', bsopts: 'mds=127.0.0.1:6700,127.0.0.1:6710;timeout=30' }]);
    expect(chunk!.luns).toEqual([
      { lun: 1, backingStore: 'vol2', bstype: 'chunk', bsopts: 'mds=127.0.0.1:6700', sizeBytes: 2 ** 30, nbdExport: 'vol2' },
      { lun: 2, backingStore: '/vol3', bstype: 'file' },
    ]);
    // The backend takes the volume name from what tgt would have passed to its Curve driver.
    expect(curve!.luns.map((l) => volumeNameOf(l.backingStore))).toEqual(['vol1']);
    const lunReqs = configToRequests(r.config).filter((q) => q.op === 'new' && q.mode === 'logicalunit');
    expect(lunReqs[0]).toMatchObject({ tid: 1, lun: 1, bstype: 'chunk', backingStore: 'cbd:pool//vol1_user_', bsopts: 'mds=127.0.0.1:6700,127.0.0.1:6710;timeout=30' });
    const bad = parse({ '/etc/tgt/targets.conf': '<target iqn.c>\n  bs-type ceph\n  backing-store x\n</target>\n' });
    expect(bad.ok ? [] : bad.errors.map(formatIssue)).toEqual(['/etc/tgt/targets.conf:2: backing store type "ceph" is not supported (rdwr, aio, file, chunk, curve, memory)']);
  });
});
