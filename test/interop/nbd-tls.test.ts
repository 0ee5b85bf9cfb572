/**
 * NBD_OPT_STARTTLS with X.509 certificates (certtool) and PSK (psktool),
 * used through libnbd's nbds:// URIs; plaintext refused on TLS-only exports.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { makePki, makePskFile } from '../helpers/pki.js';
import { runTool, runToolStatus } from '../helpers/run-tool.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbd-tls-'));
const pki = path.join(dir, 'pki');
const pskFile = path.join(dir, 'keys.psk');
let certServer: Standalone;
let pskServer: Standalone;

beforeAll(async () => {
  await makePki(pki);
  await makePskFile(pskFile);
  const read = (f: string): string => fs.readFileSync(path.join(pki, f), 'utf8');
  certServer = await startStandalone({
    exports: [
      { name: 'open', sizeBytes: 4 << 20 },
      { name: 'secret', sizeBytes: 4 << 20, tls: 'require' },
    ],
    tls: { mode: 'on', cert: read('server-cert.pem'), key: read('server-key.pem'), ca: read('ca-cert.pem'), verifyClient: true },
  });
  pskServer = await startStandalone({
    exports: [{ name: 'psk', sizeBytes: 4 << 20 }],
    tls: { mode: 'require', pskFile },
  });
}, 60_000);

afterAll(async () => {
  await certServer?.close();
  await pskServer?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('NBD over TLS', () => {
  it('X.509: nbdinfo over nbds:// with a verified client certificate', async () => {
    const uri = `${certServer.uri('secret', 'nbds')}?tls-certificates=${pki}`;
    const j = JSON.parse((await runTool('nbdinfo', ['--json', uri], 30_000)).stdout);
    expect(j.TLS).toBe(true);
    expect(j.exports[0]['export-size']).toBe(4 << 20);
  });

  it('X.509: data written over TLS reads back', async () => {
    const uri = `${certServer.uri('secret', 'nbds')}?tls-certificates=${pki}`;
    const out = (await runTool('qemu-io', ['--object', `tls-creds-x509,id=tls0,endpoint=client,dir=${pki}`, '--image-opts', '-c', 'write -P 0x3c 0 1M', '-c', 'read -P 0x3c 0 1M', qemuTlsOpts()], 30_000))
      .stdout;
    expect(out).not.toMatch(/Pattern verification failed/);
    const r = await runTool('nbdsh', ['-c', `h.set_uri_allow_local_file(True); h.connect_uri("${uri}"); assert h.pread(4096, 0) == b"\\x3c" * 4096; print("ok")`], 30_000);
    expect(r.stdout).toContain('ok');
  });

  it('plaintext clients of a TLS-only export get NBD_REP_ERR_TLS_REQD; other exports stay open', async () => {
    const r = await runToolStatus('nbdinfo', [certServer.uri('secret')], 30_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/opt_go: server replied with error/); // libnbd prints NBD_REP_ERR_TLS_REQD as ENOTSUP
    const open = JSON.parse((await runTool('nbdinfo', ['--json', certServer.uri('open')], 30_000)).stdout);
    expect(open.TLS).toBe(false);
    const list = JSON.parse((await runTool('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${certServer.port}`], 30_000)).stdout);
    expect(list.exports.map((e: { 'export-name': string }) => e['export-name'])).toEqual(['open']);
  });

  it('a client without a certificate is rejected when client verification is on', async () => {
    const bare = path.join(dir, 'bare');
    fs.mkdirSync(bare, { recursive: true });
    fs.copyFileSync(path.join(pki, 'ca-cert.pem'), path.join(bare, 'ca-cert.pem'));
    const r = await runToolStatus('nbdinfo', [`${certServer.uri('secret', 'nbds')}?tls-certificates=${bare}`], 30_000);
    expect(r.code).not.toBe(0);
  });

  it('PSK: nbdinfo with tls-psk-file; plaintext and wrong keys are refused (FORCEDTLS)', async () => {
    const uri = `nbds://alice@127.0.0.1:${pskServer.port}/psk?tls-psk-file=${pskFile}`;
    const j = JSON.parse((await runTool('nbdinfo', ['--json', uri], 30_000)).stdout);
    expect(j.TLS).toBe(true);
    expect(j.exports[0]['export-size']).toBe(4 << 20);
    const plain = await runToolStatus('nbdinfo', [pskServer.uri('psk')], 30_000);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/server replied with error/);
    const wrong = path.join(dir, 'wrong.psk');
    await runTool('psktool', ['-u', 'alice', '-p', wrong], 30_000);
    const bad = await runToolStatus('nbdinfo', [`nbds://alice@127.0.0.1:${pskServer.port}/psk?tls-psk-file=${wrong}`], 30_000);
    expect(bad.code).not.toBe(0);
  });

  it('PSK: nbdcopy round trip over TLS', async () => {
    const src = path.join(dir, 'src.bin');
    const dst = path.join(dir, 'dst.bin');
    fs.writeFileSync(src, Buffer.alloc(4 << 20, 0x61));
    const uri = `nbds://alice@127.0.0.1:${pskServer.port}/psk?tls-psk-file=${pskFile}`;
    await runTool('nbdcopy', [src, uri], 60_000);
    await runTool('nbdcopy', [uri, dst], 60_000);
    expect(fs.readFileSync(dst).equals(fs.readFileSync(src))).toBe(true);
  });
});

/** qemu's nbd driver with a tls-creds-x509 object via --object and --image-opts. */
function qemuTlsOpts(): string {
  return `driver=raw,file.driver=nbd,file.host=127.0.0.1,file.port=${certServer.port},file.export=secret,file.tls-creds=tls0`;
}
