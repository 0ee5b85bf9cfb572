/**
 * The admin socket: a Unix socket only its owner can use (mode 0600 in a
 * 0700 directory), newline-delimited JSON requests, one reply each, in
 * order. Requests run one at a time across all clients, so two bgadm
 * invocations never interleave their changes.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { mkdirPrivateSync } from '../util/private-fs.js';
import type { AdminReply, AdminRequest } from './admin-protocol.js';
import { createRequestDecoder, encodeReply } from './admin-wire.js';

export class AdminServer {
  private server: net.Server | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socketPath: string,
    private readonly execute: (req: AdminRequest) => Promise<AdminReply>,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    mkdirPrivateSync(dir);
    await this.removeStaleSocket();
    const server = net.createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind(2) creates the socket 0777 & ~umask and listen() follows at once,
      // so a chmod afterwards leaves a window: narrow the umask around the
      // (synchronous) bind, then set the mode exactly.
      const umask = process.umask(0o177);
      try {
        server.listen(this.socketPath, () => {
          fs.chmodSync(this.socketPath, 0o600);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((r) => s.close(() => r()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private serve(sock: net.Socket): void {
    const decoder = createRequestDecoder();
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      for (const ev of decoder.push(chunk)) {
        if (ev.type === 'violation') {
          this.log.warn({ err: ev.violation.kind }, 'admin connection dropped: malformed request');
          sock.destroy();
          return;
        }
        const m = ev.message;
        if ('invalid' in m) {
          this.reply(sock, m.id, { ok: false, error: m.invalid });
          continue;
        }
        const run = this.queue.then(() => this.execute(m.request));
        this.queue = run.catch(() => undefined);
        void run.then((reply) => this.reply(sock, m.id, reply));
      }
    });
  }

  private reply(sock: net.Socket, id: number, reply: AdminReply): void {
    if (!sock.destroyed) sock.write(encodeReply({ id, reply }));
  }

  /** A socket file left by a crashed daemon is removed; a live daemon's is not. */
  private async removeStaleSocket(): Promise<void> {
    if (!fs.existsSync(this.socketPath)) return;
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(this.socketPath);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`another daemon is listening on ${this.socketPath}`);
    fs.rmSync(this.socketPath, { force: true });
  }
}
