/**
 * NBD extended headers (64-bit lengths) and structured replies, each forced
 * on and off from libnbd's nbdsh, against the daemon (handshake on the
 * management plane, transmission on the target's worker). Uses a libnbd
 * >= 1.20 (test/helpers/libnbd-current.ts); bookworm's 1.14 cannot ask for
 * extended headers.
 *
 * The export is a 6 GiB sparse file so that one request, and one block
 * status extent, can be longer than 2^32 bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { CURRENT_LIBNBD_PREFIX, currentNbdsh, currentNbdshPath } from '../helpers/libnbd-current.js';
import { runTool } from '../helpers/run-tool.js';
import { PY_EXPECT_ERR } from '../helpers/nbdsh-snippets.js';

const GiB = 2 ** 30;
const SIZE = 6 * GiB;
let daemon: DaemonHandle;
let uri: string;

beforeAll(async () => {
  const dir = tempDir('bg-ext-');
  const config = path.join(dir, 'ext.yaml');
  fs.writeFileSync(
    config,
    [
      'targets:',
      '  - tid: 1',
      '    name: ext',
      '    lld: nbd',
      '    luns:',
      '      - lun: 1',
      `        backingStore: ${path.join(dir, 'ext.img')}`,
      `        sizeBytes: ${SIZE}`,
      '',
    ].join('\n'),
  );
  daemon = await startDaemon({ dataDir: dir, args: ['--config', config], iscsi: false });
  uri = `nbd://127.0.0.1:${daemon.nbdPort}/ext`;
}, 30_000);
afterAll(async () => {
  await daemon?.stop();
});

/** Python prelude: connect with the given modes and print what was negotiated. */
function connect(extended: boolean, structured: boolean): string {
  return `
import errno
h.set_request_extended_headers(${extended ? 'True' : 'False'})
h.set_request_structured_replies(${structured ? 'True' : 'False'})
h.add_meta_context("base:allocation")
h.connect_uri("${uri}")
print("extended", h.get_extended_headers_negotiated())
print("structured", h.get_structured_replies_negotiated())
GiB = 1 << 30
def extents(count, offset):
    got = []
    def cb(meta, off, entries, err):
        got.extend(entries)
        return 0
    h.block_status_64(count, offset, cb)
    return got
`;
}

describe('NBD extended headers through libnbd', () => {
  it('on: 64-bit requests and extents, block status payload', async () => {
    const out = await currentNbdsh(`${connect(true, true)}
print("payload", h.can_block_status_payload())
h.pwrite(b"\\xa5" * 65536, 5 * GiB, nbd.CMD_FLAG_FUA)
assert h.pread(65536, 5 * GiB) == b"\\xa5" * 65536
# One extent longer than 2^32: the hole before the data at 5 GiB.
e = extents(6 * GiB, 0)
print("first", e[0])
assert e[0] == (5 * GiB, 3), e[:4]
assert e[1][0] >= 65536 and e[1][1] & 1 == 0, e[:4]
# Only the base:allocation context, asked for by id: same answer.
f = []
h.block_status_filter(6 * GiB, 0, ["base:allocation"], lambda m, o, en, err: f.extend(en) or 0)
assert f[0] == e[0], (f[:2], e[:2])
# One 6 GiB trim (a length that needs 64 bits) clears the data.
h.trim(6 * GiB, 0)
assert h.pread(65536, 5 * GiB) == bytes(65536)
assert extents(6 * GiB, 0)[0] == (6 * GiB, 3)
# And a 6 GiB write-zeroes that may punch holes.
h.pwrite(b"z" * 4096, 4 * GiB + 4096)
h.zero(6 * GiB, 0)
assert h.pread(4096, 4 * GiB + 4096) == bytes(4096)
h.flush()
# Let out-of-range requests reach the server (libnbd would refuse them itself).
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_BOUNDS)
${PY_EXPECT_ERR}
expect_err(lambda: h.pread(512, 6 * GiB), "EINVAL")
expect_err(lambda: h.pwrite(b"x" * 512, 6 * GiB), "ENOSPC")
assert h.pread(512, 0) == bytes(512)
# A WRITE without NBD_CMD_FLAG_PAYLOAD_LEN (libnbd sends one with strict
# mode off): refused with EINVAL, its data consumed, the connection kept.
h.set_strict_mode(0)
expect_err(lambda: h.pwrite(b"n" * 512, 0), "EINVAL")
assert h.pread(512, 0) == bytes(512)
h.shutdown()
print("ok")
`);
    expect(out).toContain('extended True');
    expect(out).toContain('structured True');
    expect(out).toContain('payload True');
    expect(out).toContain(`first (${5 * GiB}, 3)`);
    expect(out).toContain('ok');
  });

  it('nbdinfo --json reports extended headers and the flags they enable', async () => {
    currentNbdshPath(); // a clear error when the current libnbd is missing
    const j = JSON.parse((await runTool(path.join(CURRENT_LIBNBD_PREFIX, 'bin', 'nbdinfo'), ['--json', uri], 20_000)).stdout);
    expect(j.extended).toBe(true);
    expect(j.structured).toBe(true);
    const e = j.exports[0];
    expect(e['export-size']).toBe(SIZE);
    expect(e.can_block_status_payload).toBe(true);
    expect(e.can_df).toBe(true);
    expect(e.contexts).toContain('base:allocation');
  });

  it('off, structured replies on: 32-bit headers, chunks still used', async () => {
    const out = await currentNbdsh(`${connect(false, true)}
h.pwrite(b"s" * 8192, GiB)
assert h.pread(8192, GiB) == b"s" * 8192
e = extents(2 * GiB, 0)
print("first", e[0])
assert e[0] == (GiB, 3), e[:3]
try:
    h.trim(5 * GiB, 0)
    raise AssertionError("a 5 GiB request went out without extended headers")
except nbd.Error as err:
    print("client refused", err.errno)
h.trim(8192, GiB)
assert h.pread(8192, GiB) == bytes(8192)
h.shutdown()
print("ok")
`);
    expect(out).toContain('extended False');
    expect(out).toContain('structured True');
    expect(out).toContain(`first (${GiB}, 3)`);
    expect(out).toMatch(/client refused E/);
    expect(out).toContain('ok');
  });

  it('off, structured replies off: simple replies only', async () => {
    const out = await currentNbdsh(`${connect(false, false)}
print("meta", h.can_meta_context("base:allocation"))
h.pwrite(b"p" * 4096, 3 * GiB, nbd.CMD_FLAG_FUA)
assert h.pread(4096, 3 * GiB) == b"p" * 4096
assert h.pread(4096, 3 * GiB + 4096) == bytes(4096)
h.flush()
h.shutdown()
print("ok")
`);
    expect(out).toContain('extended False');
    expect(out).toContain('structured False');
    expect(out).toContain('meta False');
    expect(out).toContain('ok');
  });
});
