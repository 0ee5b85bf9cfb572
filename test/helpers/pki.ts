/** A throwaway X.509 PKI (certtool) and PSK file (psktool) for TLS tests. */
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from './run-tool.js';

async function certtool(dir: string, args: string[], template: string): Promise<void> {
  const t = path.join(dir, `t-${Math.random().toString(36).slice(2)}.info`);
  fs.writeFileSync(t, template);
  await runTool('certtool', [...args, '--template', t], 30_000);
}

/**
 * CA, server (localhost / 127.0.0.1) and client certificates in `pki`, named
 * as libnbd's tls-certificates directory expects: ca-cert.pem,
 * server-{cert,key}.pem, client-{cert,key}.pem.
 */
export async function makePki(pki: string): Promise<void> {
  fs.mkdirSync(pki, { recursive: true });
  const p = (f: string): string => path.join(pki, f);
  await runTool('certtool', ['--generate-privkey', '--outfile', p('ca-key.pem')], 30_000);
  await certtool(pki, ['--generate-self-signed', '--load-privkey', p('ca-key.pem'), '--outfile', p('ca-cert.pem')], 'cn = test CA\nca\ncert_signing_key\nexpiration_days = 2\n');
  for (const who of ['server', 'client']) {
    await runTool('certtool', ['--generate-privkey', '--outfile', p(`${who}-key.pem`)], 30_000);
    const usage = who === 'server' ? 'tls_www_server\ndns_name = localhost\nip_address = 127.0.0.1\n' : 'tls_www_client\n';
    await certtool(
      pki,
      ['--generate-certificate', '--load-privkey', p(`${who}-key.pem`), '--load-ca-certificate', p('ca-cert.pem'), '--load-ca-privkey', p('ca-key.pem'), '--outfile', p(`${who}-cert.pem`)],
      `cn = ${who}\n${usage}encryption_key\nsigning_key\nexpiration_days = 2\n`,
    );
  }
}

/** A psktool key file with one identity. */
export async function makePskFile(file: string, identity = 'alice'): Promise<void> {
  await runTool('psktool', ['-u', identity, '-p', file], 30_000);
}
