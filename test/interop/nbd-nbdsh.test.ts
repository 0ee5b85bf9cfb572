/**
 * nbdsh (libnbd 1.14 Python bindings) scripts: structured replies on and
 * off, server-side error checking with libnbd's strict mode off, block
 * status, multi-conn. libnbd 1.14 predates extended headers
 * (set_request_extended_headers arrived in libnbd 1.20); those are driven
 * from a current libnbd in nbd-extended-headers.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { runTool } from '../helpers/run-tool.js';
import { PY_EXPECT_ERR } from '../helpers/nbdsh-snippets.js';

let s: Standalone;

beforeAll(async () => {
  s = await startStandalone({ exports: [{ name: 'sh', sizeBytes: 8 << 20 }] });
});
afterAll(async () => s.close());

async function nbdsh(script: string): Promise<string> {
  return (await runTool('nbdsh', ['-c', script], 30_000)).stdout;
}

describe('nbdsh', () => {
  for (const structured of [true, false]) {
    it(`structured replies ${structured ? 'on' : 'off'}: I/O, errors, flags`, async () => {
      const out = await nbdsh(`
import errno
h.set_request_structured_replies(${structured ? 'True' : 'False'})
h.add_meta_context("base:allocation")
h.set_strict_mode(0)
h.connect_uri("${s.uri('sh')}")
print("structured", h.get_structured_replies_negotiated())
print("meta", h.can_meta_context("base:allocation"))
print("df", h.can_df())
h.pwrite(b"\\x5a" * 65536, 65536, nbd.CMD_FLAG_FUA)
assert h.pread(65536, 65536) == b"\\x5a" * 65536
h.zero(65536, 65536)
assert h.pread(65536, 65536) == bytes(65536)
h.trim(4096, 0)
h.flush()
h.cache(4096, 0)
${PY_EXPECT_ERR}
expect_err(lambda: h.pread(512, 8 << 20), "EINVAL")
expect_err(lambda: h.pwrite(b"x" * 512, 8 << 20), "ENOSPC")
expect_err(lambda: h.pread(100, 1), "EINVAL")
assert h.pread(512, 0) == bytes(512)
print("ok")
h.shutdown()
`);
      expect(out).toContain(`structured ${structured ? 'True' : 'False'}`);
      expect(out).toContain(`meta ${structured ? 'True' : 'False'}`);
      expect(out).toContain(`df ${structured ? 'True' : 'False'}`);
      expect(out).toContain('ok');
    });
  }

  it('block status through libnbd sees data and holes', async () => {
    const out = await nbdsh(`
h.add_meta_context("base:allocation")
h.connect_uri("${s.uri('sh')}")
h.trim(1 << 20, 1 << 20)
h.pwrite(b"d" * 4096, 1 << 20)
got = []
def cb(meta, offset, entries, err):
    got.extend(entries)
h.block_status(1 << 20, 1 << 20, cb)
print("entries", got[:4])
assert got[0] == 65536 and got[1] == 0, got  # memory device pages are 64 KiB
assert got[3] & 1 == 1, got
h.shutdown()
print("ok")
`);
    expect(out).toContain('ok');
  });

  it('opt mode: list, info, list_meta_context, abort', async () => {
    const out = await nbdsh(`
h.set_opt_mode(True)
h.connect_uri("${s.uri('sh')}")
names = []
h.opt_list(lambda name, desc: names.append(name))
print("names", names)
h.set_export_name("sh")
h.opt_info()
print("size", h.get_size())
ctx = []
h.opt_list_meta_context(lambda name: ctx.append(name))
print("ctx", ctx)
h.opt_abort()
print("ok")
`);
    expect(out).toContain("names ['sh']");
    expect(out).toContain(`size ${8 << 20}`);
    expect(out).toContain("ctx ['base:allocation']");
    expect(out).toContain('ok');
  });
});
