/**
 * Session authentication for the proxies. They listen on Unix sockets in a
 * private (0700) directory, and every connection must also open with a
 * preamble carrying the per-session secret: `CORDON/1 <secret>\n`. Only
 * cordon's relay (which got the secret on its stdin, never in argv or env)
 * sends it, before the first byte from the sandbox. So the sandboxed client
 * needs no credentials and never holds the secret (it cannot leak or strip
 * it), while another local process or user that reaches the socket cannot use
 * the proxies.
 *
 * `CORDON/D <secret>\n` (same length) says the relay dials CONNECT tunnels
 * itself: for such a connection the proxy answers an allowed CONNECT with
 * the address to dial (`CORDON-DIAL <address> <port>\r\n`) instead of
 * dialing and copying the tunnel's bytes (see http-proxy.ts).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';

export const PREAMBLE_PREFIX = 'CORDON/1 ';
export const DIAL_PREAMBLE_PREFIX = 'CORDON/D ';
/** 32 random bytes, base64url: always 43 characters. */
export const SECRET_LENGTH = 43;
export const PREAMBLE_LENGTH = PREAMBLE_PREFIX.length + SECRET_LENGTH + 1;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function preamble(secret: string): Buffer {
  return Buffer.from(`${PREAMBLE_PREFIX}${secret}\n`);
}

export function preambleMatches(got: Buffer, secret: string): boolean {
  const want = preamble(secret);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Which preamble a connection opened with; false when neither matches. */
export type PreambleKind = 'plain' | 'dial' | false;

function preambleKind(got: Buffer, secret: string): PreambleKind {
  if (preambleMatches(got, secret)) return 'plain';
  const dial = Buffer.from(`${DIAL_PREAMBLE_PREFIX}${secret}\n`);
  return got.length === dial.length && timingSafeEqual(got, dial) ? 'dial' : false;
}

/**
 * Reads exactly the preamble from a fresh connection. Resolves with its kind
 * and leaves any following bytes unread (unshifted) when it matches; false on
 * a mismatch, a short read or a timeout.
 */
export function readPreamble(s: Socket, secret: string, timeoutMs: number): Promise<PreambleKind> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (ok: PreambleKind) => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onEnd);
      resolve(ok);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < PREAMBLE_LENGTH) return;
      s.pause();
      const rest = buf.subarray(PREAMBLE_LENGTH);
      const ok = preambleKind(buf.subarray(0, PREAMBLE_LENGTH), secret);
      if (ok && rest.length > 0) s.unshift(rest);
      done(ok);
    };
    const onEnd = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('error', onEnd);
  });
}
