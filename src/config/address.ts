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
