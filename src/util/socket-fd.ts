/**
 * The descriptor under a plain TCP socket, for protocols that send file
 * data to it with sendfile(2) (BlockDevice.sendTo); -1 for anything else.
 * A TLS stream must never be bypassed (the bytes would go out unencrypted),
 * and a bridged stream (TLS through the management plane, a port stream)
 * has no descriptor of its own. `_handle.fd` is Node's TCPWrap descriptor:
 * undocumented, but present on Unix since Node's early releases.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export function plainSocketFd(stream: Duplex): number {
  if (!(stream instanceof net.Socket) || stream instanceof tls.TLSSocket) return -1;
  const fd = (stream as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
