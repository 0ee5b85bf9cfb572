/**
 * Listen-address and ACL-address syntax shared by the config loaders and the
 * blockgate command line. Pure.
 *
 *   "10.0.0.1:3260"  "[::1]:3260"  "10.0.0.1" (default port)  "[::1]"  "::1"
 */
import { isIP } from 'node:net';

export interface HostPort {
  /** Address without brackets. */
  host: string;
  port: number;
}

/** Parse "addr[:port]" / "[v6][:port]". Returns a reason string on error. */
export function parseHostPort(text: string, defaultPort: number): HostPort | string {
  const s = text.trim();
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return `missing ']' in ${JSON.stringify(text)}`;
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return `unexpected ${JSON.stringify(rest)} after ']'`;
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else if (s.split(':').length > 2) {
    host = s; // bare IPv6, no port
    if (isIP(host) !== 6) return `${JSON.stringify(text)} is not an address (use [v6]:port)`;
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
    if (isIP(host) !== 4 && !isHostname(host)) return `${JSON.stringify(host)} is not an address`;
  }
  const port = portText === undefined ? defaultPort : parsePort(portText);
  if (port === undefined) return `bad port ${JSON.stringify(portText)}`;
  return { host, port };
}

/** An NBD listen address: TCP "addr[:port]" or a Unix socket "unix:/absolute/path". */
export type ListenAddress = ({ kind: 'tcp' } & HostPort) | { kind: 'unix'; path: string };

export const UNIX_LISTEN_PREFIX = 'unix:';

/** Parse a listen address that may be a Unix socket. Returns a reason string on error. */
export function parseListenAddress(text: string, defaultPort: number): ListenAddress | string {
  const s = text.trim();
  if (!s.startsWith(UNIX_LISTEN_PREFIX)) {
    const hp = parseHostPort(s, defaultPort);
    return typeof hp === 'string' ? hp : { kind: 'tcp', ...hp };
  }
  const path = s.slice(UNIX_LISTEN_PREFIX.length);
  if (!path.startsWith('/')) return `Unix socket path must be absolute: ${JSON.stringify(text)}`;
  // sun_path holds 108 bytes with its terminating NUL (unix(7)).
  if (Buffer.byteLength(path) > 107) return `Unix socket path longer than 107 bytes: ${JSON.stringify(text)}`;
  return { kind: 'unix', path };
}

/**
 * File mode of a Unix socket: "0" and three octal digits ("0600", "0660").
 * The leading 0 is required so that an unquoted YAML 0660 (the number 660)
 * or 0o660 (432) is refused rather than read as another mode.
 */
export function parseSocketMode(text: string): number | string {
  if (!/^0[0-7]{3}$/.test(text)) return `bad socket mode ${JSON.stringify(text)} (a quoted octal string, e.g. "0600")`;
  return parseInt(text, 8);
}

export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Port 0 is allowed (ephemeral; tests). */
function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function isHostname(h: string): boolean {
  return /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(h);
}

/**
 * ACL initiator-address: 'ALL', an IPv4/IPv6 address, or address/prefix
 * (tgt accepts CIDR since 1.0.x). Returns undefined when valid, else a reason.
 */
export function checkAclAddress(text: string): string | undefined {
  if (text === 'ALL') return undefined;
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr);
  if (family === 0) return `${JSON.stringify(text)} is not ALL, an IP address or a CIDR`;
  if (slash < 0) return undefined;
  const prefix = text.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `bad prefix length in ${JSON.stringify(text)}`;
  return undefined;
}
