/**
 * TLS for NBD_OPT_STARTTLS: X.509 certificates or pre-shared keys, with
 * `--tls=on|require` semantics as in nbdkit / qemu-nbd.
 *
 * PSK: Node's OpenSSL serves TLS-PSK only up to TLS 1.2 through
 * `pskCallback`, so a PSK context is capped at TLS 1.2 with PSK cipher
 * suites; gnutls clients (libnbd, qemu) negotiate that. Certificate
 * contexts allow TLS 1.2 and 1.3.
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { NbdServerTlsMode } from './handshake.js';

export interface NbdTlsConfig {
  /** 'on': STARTTLS offered, plaintext allowed; 'require': FORCEDTLS. */
  mode: Exclude<NbdServerTlsMode, 'off'>;
  /** PEM server certificate (chain) and key. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** PEM CA bundle used to verify client certificates. */
  ca?: string | Buffer;
  /** Request and verify a client certificate against `ca`. */
  verifyClient?: boolean;
  /** psktool format: one `identity:hexkey` per line. Exclusive with cert/key. */
  pskFile?: string;
}

/** Parse a psktool key file; malformed lines are ignored. */
export function parsePskFile(text: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([^:]+):([0-9a-fA-F]+)$/.exec(line.trim());
    if (m && m[2]!.length % 2 === 0) keys.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return keys;
}

/**
 * A validated TLS configuration ready to upgrade sockets.
 *
 * Each upgrade goes through a non-listening `tls.Server` that is handed the
 * plaintext socket with `emit('connection')`: that is the public way to get
 * Node's server-side checks (client certificate verification with
 * rejectUnauthorized, PSK callbacks) on a socket that was already in use.
 */
export class NbdTls {
  private readonly serverOptions: tls.TlsOptions;

  constructor(readonly config: NbdTlsConfig) {
    if (config.pskFile) {
      const psk = parsePskFile(fs.readFileSync(config.pskFile, 'utf8'));
      if (psk.size === 0) throw new Error(`no keys in PSK file ${config.pskFile}`);
      this.serverOptions = {
        ciphers: 'PSK',
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        pskCallback: (_socket, identity) => psk.get(identity) ?? null,
      };
    } else {
      if (!config.cert || !config.key) throw new Error('TLS needs cert and key, or pskFile');
      const verify = !!config.verifyClient;
      if (verify && !config.ca) throw new Error('verifyClient needs a CA');
      this.serverOptions = {
        cert: config.cert,
        key: config.key,
        ...(config.ca ? { ca: config.ca } : {}),
        minVersion: 'TLSv1.2',
        requestCert: verify,
        rejectUnauthorized: verify,
      };
    }
    // Fail at configuration time, not at the first STARTTLS.
    tls.createSecureContext(this.serverOptions);
  }

  /** Start the TLS server handshake on `socket`; exactly one of the callbacks runs (unless the socket just closes). */
  upgrade(socket: Socket, onSecure: (s: tls.TLSSocket) => void, onFail: (err: string) => void): void {
    const server = tls.createServer(this.serverOptions);
    server.once('secureConnection', (s: tls.TLSSocket) => onSecure(s));
    server.once('tlsClientError', (err: Error) => onFail(err.message));
    server.emit('connection', socket);
  }
}
