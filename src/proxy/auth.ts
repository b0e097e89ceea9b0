/**
 * Per-session proxy credentials. The proxies listen on Unix sockets in a
 * private directory, and every request must also carry the session secret
 * (HTTP Proxy-Authorization Basic, SOCKS5 username/password): a request that
 * lacks it never reaches the decision function.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const PROXY_USER = 'cordon';

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function secretMatches(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Checks a Proxy-Authorization header value ("Basic base64(user:secret)"). */
export function checkProxyAuthorization(header: string | undefined, secret: string): boolean {
  if (!header) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  return decoded.slice(0, colon) === PROXY_USER && secretMatches(decoded.slice(colon + 1), secret);
}
