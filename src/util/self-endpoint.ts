/**
 * Is an address:port one of our own listening endpoints? Used to refuse an
 * iSCSI redirect that would lead back to this daemon (it would loop: every
 * login there is redirected again). Pure; imports nothing.
 *
 * It is ours when it names a listener's own address and port, or, for a
 * listener on a wildcard address (0.0.0.0, ::), that port on a loopback
 * address or on `alsoLocal` (e.g. the address a connection arrived on).
 */
export interface Endpoint {
  address: string;
  port: number;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Without brackets, without the IPv4-mapped prefix, lower case. */
export function bareAddress(a: string): string {
  return a.trim().replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '').toLowerCase();
}

/** 0.0.0.0 or :: (a listener on every interface). */
export function isWildcardAddress(a: string): boolean {
  return WILDCARDS.has(bareAddress(a));
}

export function isLoopbackAddress(a: string): boolean {
  const b = bareAddress(a);
  return b === 'localhost' || b === '::1' || /^127\./.test(b);
}

export function isOwnEndpoint(target: Endpoint, listeners: readonly Endpoint[], alsoLocal?: string): boolean {
  const addr = bareAddress(target.address);
  return listeners.some((l) => {
    if (l.port !== target.port) return false;
    if (isWildcardAddress(l.address)) return isLoopbackAddress(addr) || WILDCARDS.has(addr) || (alsoLocal !== undefined && addr === bareAddress(alsoLocal));
    return bareAddress(l.address) === addr;
  });
}
