/**
 * Golden strings: captured from tgtadm 1.0.85 talking to a private tgtd with
 * the same objects (targets, LUNs of 100 MiB and 1 GiB, ACLs, accounts, one
 * qemu-io session), so bgadm's text equals tgtadm's byte for byte.
 */
import { describe, expect, it } from 'vitest';
import type { AdminRequest, LunShow, ShowData } from '../../../src/mgmt/admin-protocol.js';
import { formatDiskSizeMB, formatShow } from '../../../src/mgmt/show-format.js';

const req: AdminRequest = { kind: 'tgtadm', lld: 'iscsi', mode: 'target', op: 'show' };

const controller = (tid: number): LunShow => ({
  lun: 0, type: 'controller', scsiId: `IET     000${tid}0000`, scsiSn: `beaf${tid}0`, sizeBytes: 0, blockSize: 1,
  online: true, removable: false, preventRemoval: false, readonly: false, swp: false, thinProvisioning: false,
  bsType: 'null', path: null, bsoflags: [],
});
// tgt derives a disk's SCSI ID / SN from tid and LUN (IET 0001000N, beaf1N); blockgate from the LUN's
// 128-bit id (docs/scsi.md "Device identity"): T10 vendor id + serial, and the id's hex digits.
const diskSn = (lun: number): string => `5f0c3d8e2a7b4c1e9d6f0a2b3c4d5e0${lun}`;
const disk = (lun: number, sizeBytes: number, path: string, bsoflags: LunShow['bsoflags']): LunShow => ({
  ...controller(1), lun, type: 'disk', scsiId: `BLKGATE ${diskSn(lun)}`, scsiSn: diskSn(lun), sizeBytes, blockSize: 512,
  bsType: 'rdwr', path, bsoflags,
});

const LUN_BLOCK = (lun: number, type: string, id: string, sn: string, size: string, bst: string, path: string, flags: string) =>
  `        LUN: ${lun}\n            Type: ${type}\n            SCSI ID: ${id}\n            SCSI SN: ${sn}\n` +
  `            Size: ${size}\n            Online: Yes\n            Removable media: No\n            Prevent removal: No\n` +
  `            Readonly: No\n            SWP: No\n            Thin-provisioning: No\n            Backing store type: ${bst}\n` +
  `            Backing store path: ${path}\n            Backing store flags: ${flags}\n`;

describe('formatShow: target show', () => {
  it('two targets, LUNs, accounts, ACLs (tgtadm --mode target --op show)', () => {
    const show: ShowData = {
      kind: 'targets',
      targets: [
        {
          tid: 1, name: 'iqn.2001-04.com.example:storage.disk1', lld: 'iscsi', state: 'ready', nexuses: [],
          luns: [controller(1), disk(1, 100 * 2 ** 20, '/tmp/bgtgt/disk1.img', []), disk(2, 2 ** 30, '/tmp/bgtgt/disk2.img', ['direct', 'sync'])],
          accounts: { incoming: ['alice'], outgoing: 'bob' },
          acl: { addresses: ['ALL', '192.168.1.0/24'], names: ['iqn.1994-05.com.redhat:client'] },
        },
        {
          tid: 2, name: 'iqn.2001-04.com.example:empty', lld: 'iscsi', state: 'ready', nexuses: [], luns: [controller(2)],
          accounts: { incoming: [] }, acl: { addresses: [], names: [] },
        },
      ],
    };
    const expected =
      'Target 1: iqn.2001-04.com.example:storage.disk1\n    System information:\n        Driver: iscsi\n        State: ready\n' +
      '    I_T nexus information:\n    LUN information:\n' +
      LUN_BLOCK(0, 'controller', 'IET     00010000', 'beaf10', '0 MB, Block size: 1', 'null', 'None', '') +
      LUN_BLOCK(1, 'disk', `BLKGATE ${diskSn(1)}`, diskSn(1), '105 MB, Block size: 512', 'rdwr', '/tmp/bgtgt/disk1.img', '') +
      LUN_BLOCK(2, 'disk', `BLKGATE ${diskSn(2)}`, diskSn(2), '1074 MB, Block size: 512', 'rdwr', '/tmp/bgtgt/disk2.img', 'sync:direct') +
      '    Account information:\n        alice\n        bob (outgoing)\n' +
      '    ACL information:\n        ALL\n        192.168.1.0/24\n        iqn.1994-05.com.redhat:client\n' +
      'Target 2: iqn.2001-04.com.example:empty\n    System information:\n        Driver: iscsi\n        State: ready\n' +
      '    I_T nexus information:\n    LUN information:\n' +
      LUN_BLOCK(0, 'controller', 'IET     00020000', 'beaf20', '0 MB, Block size: 1', 'null', 'None', '') +
      '    Account information:\n    ACL information:\n';
    expect(formatShow(req, show)).toBe(expected);
  });

  it('I_T nexus with a connection; NOP settings; NBD target has no account section', () => {
    const show: ShowData = {
      kind: 'targets',
      targets: [
        {
          tid: 3, name: 'iqn.2001-04.com.example:open', lld: 'iscsi', state: 'offline', nop: { interval: 5, count: 3 },
          nexuses: [{ nexusId: 1, initiator: 'iqn.2008-11.org.linux-kvm', connections: [{ cid: 0, address: '127.0.0.1' }] }],
          luns: [], accounts: { incoming: [] }, acl: { addresses: ['ALL'], names: [] },
        },
        { tid: 4, name: 'exp', lld: 'nbd', state: 'ready', nexuses: [], luns: [], accounts: { incoming: ['x'] }, acl: { addresses: [], names: [] } },
      ],
    };
    expect(formatShow(req, show)).toBe(
      'Target 3: iqn.2001-04.com.example:open\n    System information:\n        Driver: iscsi\n        State: offline\n' +
        '        Nop interval: 5\n        Nop count: 3\n    I_T nexus information:\n        I_T nexus: 1\n' +
        '            Initiator: iqn.2008-11.org.linux-kvm alias: none\n            Connection: 0\n                IP Address: 127.0.0.1\n' +
        '    LUN information:\n    Account information:\n    ACL information:\n        ALL\n' +
        'Target 4: exp\n    System information:\n        Driver: nbd\n        State: ready\n    I_T nexus information:\n' +
        '    LUN information:\n    ACL information:\n',
    );
  });
});

describe('formatShow: other modes', () => {
  it('conn show', () => {
    expect(formatShow(req, { kind: 'connections', connections: [{ sid: 1, cid: 0, initiator: 'iqn.2008-11.org.linux-kvm', address: '127.0.0.1' }] }))
      .toBe('Session: 1\n    Connection: 0\n        Initiator: iqn.2008-11.org.linux-kvm\n        IP Address: 127.0.0.1\n');
  });
  it('portal show, IPv6 in brackets', () => {
    expect(formatShow(req, { kind: 'portals', portals: [
      { lld: 'iscsi', address: '127.0.0.1', port: 43261, tpgt: 1 }, { lld: 'iscsi', address: '::1', port: 3260, tpgt: 1 },
    ] })).toBe('Portal: 127.0.0.1:43261,1\nPortal: [::1]:3260,1\n');
  });
  it('portal show, an NBD Unix socket by its path (#12 item 17)', () => {
    expect(formatShow(req, { kind: 'portals', portals: [{ lld: 'nbd', address: 'unix:/run/blockgate/nbd.sock', port: 0, tpgt: 1 }] }))
      .toBe('Portal: unix:/run/blockgate/nbd.sock,1\n');
  });
  it('lld show', () => {
    expect(formatShow(req, { kind: 'llds', llds: [
      { name: 'iscsi', state: 'ready', targets: [{ tid: 1, name: 'iqn.a' }, { tid: 2, name: 'iqn.b' }] }, { name: 'iser', state: 'error', targets: [] },
    ] })).toBe('LLDs:\n    iscsi: ready\n        Target 1: iqn.a\n        Target 2: iqn.b\n    iser: error\n');
  });
  it('account show: header only when non-empty', () => {
    expect(formatShow(req, { kind: 'accounts', users: [] })).toBe('');
    expect(formatShow(req, { kind: 'accounts', users: ['bob', 'alice'] })).toBe('Account list:\n    bob\n    alice\n');
  });
  it('target params (show --tid N)', () => {
    expect(formatShow(req, { kind: 'target-params', params: [['nop_interval', '0'], ['MaxRecvDataSegmentLength', '8192'], ['HeaderDigest', 'None']] }))
      .toBe('nop_interval=0\nMaxRecvDataSegmentLength=8192\nHeaderDigest=None\n');
  });
  it('sys show, including the discovery-account quirk', () => {
    const base = {
      state: 'ready' as const, debug: false, llds: [{ name: 'iscsi', state: 'ready' }, { name: 'iser', state: 'error' }],
      backingStores: [{ name: 'null' }, { name: 'rdwr', oflags: ['sync', 'direct'] as ('sync' | 'direct')[] }, { name: 'aio' }],
      deviceTypes: ['disk', 'controller'], discoveryAccounts: { incoming: [] as string[] },
      sections: [{ title: 'iSNS', params: [['iSNS', 'Off'], ['iSNSServerPort', '3205']] as [string, string][] }],
    };
    expect(formatShow(req, { kind: 'system', system: base })).toBe(
      'System:\n    State: ready\n    debug: off\nLLDs:\n    iscsi: ready\n    iser: error\nBacking stores:\n    null\n' +
        '    rdwr (bsoflags sync:direct)\n    aio\nDevice types:\n    disk\n    controller\niSNS:\n    iSNS=Off\n    iSNSServerPort=3205\n',
    );
    const withAcc = formatShow(req, { kind: 'system', system: { ...base, sections: [], discoveryAccounts: { incoming: ['d1'], outgoing: 'd2' } } });
    expect(withAcc.endsWith('    controller\n    Account information:\n\n    d1\n    d2 (outgoing)\n')).toBe(true);
  });
});

describe("formatDiskSizeMB (tgt's print_disksize)", () => {
  it.each([
    [0, '0 MB'], [100 * 2 ** 20, '105 MB'], [2 ** 30, '1074 MB'], [10 * 2 ** 30, '10737 MB'], [2 ** 40, '1099512 MB'], [511, '0 MB'],
  ])('%d bytes → %s', (bytes, text) => {
    expect(formatDiskSizeMB(bytes)).toBe(text);
  });
});
