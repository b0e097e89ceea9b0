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
 * Each command gets its own secret (SessionSecrets): a handle that runs
 * many commands on one pair of proxies knows from the preamble which
 * command opened a connection, so every decision is attributed to it; a
 * command's secret is forgotten when it ends, so it opens nothing after.
 * The sandboxed command never sees any secret, so it cannot claim to be
 * another command.
 *
 * `CORDON/D <secret>\n` (same length) says the relay dials CONNECT tunnels
 * itself: for such a connection the proxy answers an allowed CONNECT with
 * the address to dial (`CORDON-DIAL <address> <port>\r\n`) instead of
 * dialing and copying the tunnel's bytes (see http-proxy.ts).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { PROTOCOL } from '../protocol.js';

export const PREAMBLE_PREFIX = PROTOCOL.relay.preamble;
export const DIAL_PREAMBLE_PREFIX = PROTOCOL.relay.dialPreamble;
export const REPORT_PREAMBLE_PREFIX = PROTOCOL.relay.reportPreamble;
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
export type PreambleKind = 'plain' | 'dial' | 'report' | false;

/** A connection that authenticated: its preamble's kind and the owner its secret was issued to. */
export interface Authenticated {
  /** `report`: the relay's reports of the plain-HTTP responses it passed on (http-proxy.ts readReports). */
  readonly kind: 'plain' | 'dial' | 'report';
  readonly owner: string;
}

/**
 * The secrets live on one pair of proxies, each issued to an owner (a
 * command id). A preamble is compared with every live secret in constant
 * time and without stopping at the first match, so the time taken does
 * not say which secret, or how much of one, matched.
 */
export class SessionSecrets {
  private readonly live = new Map<string, { plain: Buffer; dial: Buffer; report: Buffer; owner: string }>();

  /** A new secret for `owner`. */
  issue(owner: string): string {
    const secret = newSecret();
    this.live.set(secret, entry(secret, owner));
    return secret;
  }

  /** The command a live secret was issued to. */
  ownerOf(secret: string): string | undefined {
    return this.live.get(secret)?.owner;
  }

  /** Forgets a secret: connections opened with it afterwards are refused. */
  revoke(secret: string): void {
    this.live.delete(secret);
  }

  /** One secret for one owner (tests, a single run). */
  static of(secret: string, owner = ''): SessionSecrets {
    const s = new SessionSecrets();
    s.live.set(secret, entry(secret, owner));
    return s;
  }

  match(got: Buffer): Authenticated | false {
    let found: Authenticated | false = false;
    if (got.length !== PREAMBLE_LENGTH) return false;
    for (const e of this.live.values()) {
      const plain = timingSafeEqual(got, e.plain);
      const dial = timingSafeEqual(got, e.dial);
      const report = timingSafeEqual(got, e.report);
      if (plain || dial || report) found = { kind: plain ? 'plain' : dial ? 'dial' : 'report', owner: e.owner };
    }
    return found;
  }
}

function entry(secret: string, owner: string): { plain: Buffer; dial: Buffer; report: Buffer; owner: string } {
  return { plain: preamble(secret), dial: Buffer.from(`${DIAL_PREAMBLE_PREFIX}${secret}\n`), report: Buffer.from(`${REPORT_PREAMBLE_PREFIX}${secret}\n`), owner };
}

/**
 * Reads exactly the preamble from a fresh connection. Resolves with its kind
 * and owner and leaves any following bytes unread (unshifted) when it
 * matches a live secret; false on a mismatch, a short read or a timeout.
 */
export function readPreamble(s: Socket, secrets: SessionSecrets, timeoutMs: number): Promise<Authenticated | false> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (ok: Authenticated | false) => {
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
      const ok = secrets.match(buf.subarray(0, PREAMBLE_LENGTH));
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
