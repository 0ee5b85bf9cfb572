/**
 * bgadm command lines → requests, and tgtadm's own checks. Expected messages
 * and exit statuses were observed from tgtadm 1.0.85 against a private tgtd
 * (see docs/cli.md "Compatibility"), e.g.
 *   tgtadm --lld iscsi --mode target --op new --targetname foo
 *   → "tgtadm: 'tid' option is necessary", exit 22.
 */
import { describe, expect, it } from 'vitest';
import { runBgadm } from '../../../src/cli/bgadm.js';
import type { AdminReply, AdminRequest } from '../../../src/mgmt/admin-protocol.js';

interface Run {
  status: number;
  out: string;
  err: string;
  sent: { path: string; request: AdminRequest }[];
}

async function bgadm(cmdline: string | string[], reply: AdminReply = { ok: true }, env: Record<string, string> = {}): Promise<Run> {
  const args = Array.isArray(cmdline) ? cmdline : cmdline.split(' ').filter((a) => a !== '');
  const run: Run = { status: -1, out: '', err: '', sent: [] };
  run.status = await runBgadm(['node', '/usr/sbin/tgtadm', ...args], {
    stdout: (s) => void (run.out += s),
    stderr: (s) => void (run.err += s),
    env: { BLOCKGATE_ADMIN_SOCKET: '/tmp/test.sock', ...env },
    send: async (path, request) => {
      run.sent.push({ path, request });
      return reply;
    },
  });
  return run;
}

describe('bgadm: tgtadm command lines become requests', () => {
  it('target new (tgt doc/README.iscsi example)', async () => {
    const r = await bgadm('--lld iscsi --op new --mode target --tid 1 -T iqn.2001-04.com.example:storage.disk1');
    expect(r.status).toBe(0);
    expect(r.sent).toEqual([{
      path: '/tmp/test.sock',
      request: { kind: 'tgtadm', lld: 'iscsi', mode: 'target', op: 'new', tid: 1, targetname: 'iqn.2001-04.com.example:storage.disk1' },
    }]);
  });

  it('logicalunit new with short options and bsoflags', async () => {
    const r = await bgadm('--lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /var/tmp/disk1.img -E rdwr -f sync:direct');
    expect(r.sent[0]!.request).toEqual({
      kind: 'tgtadm', lld: 'iscsi', mode: 'logicalunit', op: 'new', tid: 1, lun: 1,
      backingStore: '/var/tmp/disk1.img', bstype: 'rdwr', bsoflags: 'sync:direct',
    });
  });

  it('tgt-admin style: --tid=1 --lun=2 --user=x and mode aliases', async () => {
    const r = await bgadm('--lld iscsi --mode account --op bind --tid=1 --user=alice --outgoing');
    expect(r.sent[0]!.request).toEqual({ kind: 'tgtadm', lld: 'iscsi', mode: 'account', op: 'bind', tid: 1, user: 'alice', outgoing: true });
    const lu = await bgadm('-L iscsi -m lu -o update -t 1 -l 2 -P readonly=1,vendor_id=ACME');
    expect(lu.sent[0]!.request).toMatchObject({ mode: 'logicalunit', op: 'update', lun: 2, params: { readonly: '1', vendor_id: 'ACME' } });
  });

  it('ACL bind by address and by name; --lld defaults to iscsi', async () => {
    const a = await bgadm('--op bind --mode target --tid 1 -I ALL');
    expect(a.sent[0]!.request).toEqual({ kind: 'tgtadm', lld: 'iscsi', mode: 'target', op: 'bind', tid: 1, initiatorAddress: 'ALL' });
    const n = await bgadm('--op bind --mode target --tid 1 -Q iqn.1994-05.com.redhat:client');
    expect(n.sent[0]!.request).toMatchObject({ initiatorName: 'iqn.1994-05.com.redhat:client' });
  });

  it('portal new with the abbreviated --param spelling', async () => {
    const r = await bgadm('--lld iscsi --mode portal --op new --param portal=[::1]:3261');
    expect(r.sent[0]!.request).toEqual({ kind: 'tgtadm', lld: 'iscsi', mode: 'portal', op: 'new', portal: '[::1]:3261' });
  });

  it('getopt-style unambiguous prefixes of long options', async () => {
    const r = await bgadm('--lld iscsi --mode logicalunit --op new --tid 2 --lun 3 --back /dev/sdb --bsty file');
    expect(r.sent[0]!.request).toMatchObject({ backingStore: '/dev/sdb', bstype: 'file' });
  });

  it('target update, delete --force, conn delete, sys update', async () => {
    expect((await bgadm('--mode target --op update --tid 1 --name MaxRecvDataSegmentLength --value 65536')).sent[0]!.request)
      .toMatchObject({ name: 'MaxRecvDataSegmentLength', value: '65536' });
    expect((await bgadm('--mode target --op delete --force --tid 1')).sent[0]!.request).toMatchObject({ force: true, tid: 1 });
    expect((await bgadm('--op delete --mode conn --tid 1 --sid 2 --cid 0')).sent[0]!.request)
      .toMatchObject({ mode: 'conn', op: 'delete', tid: 1, sid: 2, cid: 0 });
    expect((await bgadm('--mode sys --op update --name debug --value on')).sent[0]!.request).toMatchObject({ mode: 'sys', name: 'debug' });
  });

  it('nbd lld and --dump', async () => {
    expect((await bgadm('--lld nbd --mode target --op new --tid 5 --targetname exp1')).sent[0]!.request).toMatchObject({ lld: 'nbd' });
    expect((await bgadm('--dump')).sent[0]!.request).toEqual({ kind: 'dump' });
  });

  it('--admin-socket beats the env var; -C N selects <socket>.N', async () => {
    expect((await bgadm('--admin-socket /x/a.sock --mode target --op show')).sent[0]!.path).toBe('/x/a.sock');
    expect((await bgadm('-C 7 --mode target --op show')).sent[0]!.path).toBe('/tmp/test.sock.7');
    expect((await bgadm('-C 0 --mode target --op show')).sent[0]!.path).toBe('/tmp/test.sock');
  });
});

describe("bgadm: tgtadm's command-line checks (wording and exit status)", () => {
  const cases: [string, string, number][] = [
    ['--lld iscsi --mode target --op new --targetname foo', "tgtadm: 'tid' option is necessary\n", 22],
    ['--lld iscsi --mode target --op new --tid 0 --targetname foo', "tgtadm: 'tid' cannot be 0\n", 22],
    ['--lld iscsi --mode target --op new --tid 9', 'tgtadm: creating new target requires a name, use --targetname\n', 22],
    ['--lld iscsi --mode target --op bind --tid 1', 'tgtadm: bind operation requires initiator-address, initiator-nameor bus\n', 22],
    ['--lld iscsi --mode target --op frob --tid 1', 'tgtadm: unknown operation: frob\n', 1],
    ['--lld iscsi --mode tgtx --op show', 'tgtadm: unknown mode: tgtx\n', 1],
    ['--lld iscsi --op show', 'tgtadm: specify the mode\n', 22],
    ['--lld iscsi --mode target', 'tgtadm: specify the operation type\n', 22],
    ['--lld iscsi --mode target --op new --tid 4 --targetname x --lun 3', "tgtadm: target mode: option '-l' is not allowed/supported\n", 22],
    ['--lld iscsi --mode target --op show --lun 2', "tgtadm: target mode: option '-l' is not allowed/supported\n", 22],
    ['--lld iscsi --mode logicalunit --op new --tid 1 -b /tmp/x', "tgtadm: 'lun' option is necessary\n", 22],
    ['--lld iscsi --mode logicalunit --op new --lun 1 -b /tmp/x', "tgtadm: 'tid' option is necessary\n", 22],
    ['--lld iscsi --mode logicalunit --op new --tid 0 --lun 1', "tgtadm: 'tid' must not be 0\n", 22],
    ['--lld iscsi --mode logicalunit --op new --tid 1 --lun 5', "tgtadm: 'backing-store' option is necessary\n", 22],
    ['--lld iscsi --mode logicalunit --op show --tid 1 --lun 1', 'tgtadm: operation show not supported in logicalunit mode\n', 22],
    ['--lld iscsi --mode account --op new --user carol', "tgtadm: 'user' and 'password' options are required\n", 22],
    ['--lld iscsi --mode account --op bind --tid 1', "tgtadm: 'user' option is necessary\n", 22],
    ['--lld iscsi --mode target --op update --tid 1 --name MaxRecvDataSegmentLength', "tgtadm: update operation requires 'name' and 'value' options\n", 22],
    ['--lld iscsi --mode sys --op bind', 'tgtadm: operation bind not supported in system mode\n', 22],
    ['--lld iscsi --mode portal --op new', 'tgtadm: you must specify --param portal=<portal>\n', 22],
    ['--lld iscsi --mode lld --op new', 'tgtadm: option 0 not supported in lld mode\n', 22],
    ['--lld iscsi --mode target --op show --tid abc', "-t argument value 'abc' invalid\nTry `tgtadm --help' for more information.\n", 22],
    ['--lld iscsi --mode target --op show --tid -1', "-t argument value '-1' invalid\nTry `tgtadm --help' for more information.\n", 22],
    ['--lld iscsi --mode target --op show -x', "tgtadm: invalid option -- 'x'\nTry `tgtadm --help' for more information.\n", 22],
    ['--lld iscsi --mode target --op show extra', "tgtadm: unrecognized option 'extra'\nTry `tgtadm --help' for more information.\n", 22],
    ['--lld iscsi --mode logicalunit --op new --tid 1 --lun 3 -b /x -Y tape2', 'tgtadm: unknown target type: tape2\n', 22],
    ['--lld foo --mode target --op show', "tgtadm: can't find the driver\n", 22],
  ];
  for (const [cmd, err, status] of cases) {
    it(cmd, async () => {
      const r = await bgadm(cmd);
      expect(r.err).toBe(err);
      expect(r.status).toBe(status);
      expect(r.sent).toEqual([]);
    });
  }
});

describe('bgadm: replies', () => {
  it("prints the daemon's error with tgtadm's text and exits 22", async () => {
    const r = await bgadm('--mode target --op delete --tid 9', { ok: false, error: { code: 'BG_ERR_NO_TARGET', message: 'x' } });
    expect(r.err).toBe("tgtadm: can't find the target\n");
    expect(r.status).toBe(22);
  });

  it("a tgt error prints tgtadm's text, then the daemon's reason when it gave one", async () => {
    const r = await bgadm('--mode logicalunit --op update --tid 1 --lun 1 -P size=0', {
      ok: false, error: { code: 'BG_ERR_INVALID_REQUEST', message: 'invalid request', details: 'size: a LUN cannot shrink to 0 bytes' },
    });
    expect(r.err).toBe('tgtadm: invalid request: size: a LUN cannot shrink to 0 bytes\n');
    expect(r.status).toBe(22);
  });

  it('refuses a bad size before sending, saying why, with and without --json', async () => {
    for (const json of ['', ' --json']) {
      const r = await bgadm(`--mode logicalunit --op new --tid 1 --lun 1 -b /tmp/x.img --params size=12Q${json}`);
      expect(r.err).toBe('tgtadm: invalid size "12Q": expected a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)\n');
      expect(r.status).toBe(22);
      expect(r.sent).toEqual([]);
    }
    const ok = await bgadm('--mode logicalunit --op update --tid 1 --lun 1 --params size=10G');
    expect(ok.sent[0]!.request).toMatchObject({ params: { size: '10G' } });
  });

  it('no daemon: exit 107 with the socket path', async () => {
    const r = await bgadm('--mode target --op show', {
      ok: false, error: { code: 'BG_ERR_NO_DAEMON', message: '', details: '/tmp/test.sock: ENOENT' },
    });
    expect(r.err).toBe("tgtadm: can't connect to the blockgate daemon: /tmp/test.sock: ENOENT\n");
    expect(r.status).toBe(107);
  });

  it('prints show data in tgt layout, or JSON with --json', async () => {
    const reply: AdminReply = { ok: true, show: { kind: 'accounts', users: ['bob', 'alice'] } };
    expect((await bgadm('--mode account --op show', reply)).out).toBe('Account list:\n    bob\n    alice\n');
    const json = await bgadm('--mode account --op show --json', reply);
    expect(JSON.parse(json.out)).toEqual(reply);
  });

  it('--help documents every option and exits 0; -V prints the version', async () => {
    const r = await bgadm('--help');
    expect(r.status).toBe(0);
    for (const opt of ['--lld', '--mode', '--op', '--tid', '--lun', '--targetname', '--backing-store', '--bstype', '--bsopts',
      '--bsoflags', '--device-type', '--params', '--initiator-address', '--initiator-name', '--user', '--password', '--outgoing',
      '--name', '--value', '--force', '--sid', '--cid', '--control-port', '--json', '--dump', '--admin-socket', '-h, --help']) {
      expect(r.out).toContain(opt);
    }
    expect(r.sent).toEqual([]);
    expect((await bgadm('-V')).out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
