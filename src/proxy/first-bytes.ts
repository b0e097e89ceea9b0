/**
 * What the first bytes a client sends into a tunnel say about the host they
 * are meant for, and whether that agrees with the host the tunnel was
 * allowed to (the CONNECT or SOCKS5 target). A server that hosts many names
 * (a CDN, a shared front end) routes by the TLS server name (SNI) or the
 * HTTP Host header, not by the address it was reached at: a tunnel allowed to
 * one name that carries another would reach a host nobody decided on
 * (domain fronting). docs/network.md#names-in-a-tunnel.
 *
 * Sans-IO and pure: the proxies (http-proxy.ts, socks5-server.ts, and the
 * relay through the HTTP proxy) feed it what they have read so far and act
 * on its answer. Trust boundary: every byte is the sandboxed client's.
 */

import { isIP } from 'node:net';
import { PROTOCOL } from '../protocol.js';

/** The most a tunnel's first bytes may take to say what they are (the relay holds at most this many: native/protocol.json). */
export const PEEK_MAX = PROTOCOL.relay.peekMax;

export type FirstBytes =
  /** Not enough bytes yet to say. */
  | { readonly kind: 'more' }
  /** A TLS ClientHello: its one host_name, or none. */
  | { readonly kind: 'tls'; readonly serverName?: string }
  /** An HTTP/1 request line: the proxy serves the tunnel's requests itself, each judged like a proxied request. */
  | { readonly kind: 'http' }
  /** Neither (SSH, a database protocol, …): no name rides in it. */
  | { readonly kind: 'opaque' }
  /**
   * A cleartext request that comes before a ClientHello (Postgres asks for
   * TLS with 8 bytes and waits for the server's answer): these bytes go to the
   * server, and what follows is read as first bytes again.
   */
  | { readonly kind: 'preamble'; readonly length: number }
  /** The client ended the tunnel without sending anything. */
  | { readonly kind: 'empty' }
  /** Bytes that claim to be TLS or HTTP but cannot be read as such, or that hide the name. */
  | { readonly kind: 'bad'; readonly why: string };

/** TLS record content type "handshake", handshake type "client_hello", extension "server_name". */
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
/** encrypted_client_hello (RFC 9849: 0xfe0d; its drafts used 0xfe08-0xfe0c) and the older encrypted_server_name (0xffce). */
const HIDDEN_NAME = new Set([0xfe08, 0xfe09, 0xfe0a, 0xfe0b, 0xfe0c, 0xfe0d, 0xffce]);

/**
 * Reads what `buf` (the client's first bytes, from the start) is; `ended`:
 * the client sent nothing more (it half-closed), so nothing can complete it.
 */
export function readFirstBytes(buf: Buffer, ended = false): FirstBytes {
  // Postgres asks for TLS (or GSS encryption) in 8 cleartext bytes before its ClientHello: judged after them.
  const pg = prefixOf(buf, PG_PREFIXES);
  if (pg === 'whole') return { kind: 'preamble', length: 8 };
  if (pg === 'part' && buf.length > 0) return ended ? { kind: 'opaque' } : { kind: 'more' };
  // A PROXY protocol header would tell the server a client address of the sandbox's choosing.
  const proxyHeader = prefixOf(buf, PROXY_HEADERS);
  if (proxyHeader === 'whole') return { kind: 'bad', why: 'a PROXY protocol header, which claims a client address' };
  if (proxyHeader === 'part' && !ended) return { kind: 'more' };
  // An SSLv2-format ClientHello (a length with the high bit set, type 1, version 3.x) has no room for a server name.
  if (buf.length > 0 && (buf[0]! & 0x80) !== 0 && (buf.length < 3 || buf[2] === 1) && (buf.length < 4 || buf[3] === 3)) {
    if (buf.length >= 4) return { kind: 'bad', why: 'an SSLv2-format ClientHello, which names no server' };
    if (!ended) return { kind: 'more' };
  }
  const r = buf.length === 0 ? { kind: 'more' as const } : buf[0] === HANDSHAKE ? readClientHello(buf) : readRequestLine(buf);
  if (r.kind !== 'more' || !ended) return r;
  // A request line cut short has no headers to come, so no Host; a ClientHello cut short is no TLS a server takes.
  if (buf.length === 0) return { kind: 'empty' };
  if (buf[0] !== HANDSHAKE) return { kind: 'opaque' };
  return { kind: 'bad', why: 'the client ended it inside its ClientHello' };
}

/** Real clients send a ClientHello in one or two records; more is refused (and keeps each read linear). */
const MAX_HELLO_RECORDS = 16;

/** One ClientHello, reassembled from as many handshake records as carry it (at most MAX_HELLO_RECORDS). */
function readClientHello(buf: Buffer): FirstBytes {
  const parts: Buffer[] = [];
  let have = 0;
  let off = 0;
  /** The handshake message's length, once its 4-byte header is in. */
  let msgLen = -1;
  for (;;) {
    if (buf.length < off + 5) return moreOrBad(buf, 'a TLS record cut short');
    if (buf[off] !== HANDSHAKE) return { kind: 'bad', why: 'a TLS record other than a handshake before the ClientHello ended' };
    if (buf[off + 1] !== 3) return { kind: 'bad', why: 'a TLS record with an unknown version' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384) return { kind: 'bad', why: 'a TLS record of an impossible length' };
    if (parts.length === MAX_HELLO_RECORDS) return { kind: 'bad', why: `a ClientHello split into more than ${MAX_HELLO_RECORDS} TLS records` };
    if (buf.length < off + 5 + len) return moreOrBad(buf, 'a ClientHello longer than cordon reads');
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (msgLen < 0 && have >= 4) {
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (head[0] !== CLIENT_HELLO) return { kind: 'bad', why: 'a TLS handshake that does not start with a ClientHello' };
      msgLen = head.readUIntBE(1, 3);
      if (4 + msgLen > PEEK_MAX) return { kind: 'bad', why: 'a ClientHello longer than cordon reads' };
    }
    if (msgLen >= 0 && have >= 4 + msgLen) {
      const hs = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      return parseClientHello(hs.subarray(4, 4 + msgLen));
    }
  }
}

function moreOrBad(buf: Buffer, why: string): FirstBytes {
  return buf.length >= PEEK_MAX ? { kind: 'bad', why } : { kind: 'more' };
}

/** The ClientHello body (RFC 8446 4.1.2; RFC 6066 3 for server_name). */
function parseClientHello(b: Buffer): FirstBytes {
  const bad = (why: string): FirstBytes => ({ kind: 'bad', why: `a malformed ClientHello (${why})` });
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return bad('cut short');
  p += 1 + b[p]!; // legacy_session_id
  if (b.length < p + 2) return bad('cut short');
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (b.length < p + 1) return bad('cut short');
  p += 1 + b[p]!; // legacy_compression_methods
  if (p === b.length) return { kind: 'tls' }; // no extensions at all: no name
  if (b.length < p + 2) return bad('cut short');
  const end = p + 2 + b.readUInt16BE(p);
  p += 2;
  if (end !== b.length) return bad('extensions that do not fill the message');
  const seen = new Set<number>();
  let serverName: string | undefined;
  while (p < end) {
    if (end - p < 4) return bad('an extension cut short');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (end - p < len) return bad('an extension cut short');
    // A second copy of an extension is forbidden (RFC 8446 4.2), and servers differ in which one they read.
    if (seen.has(type)) return bad(`extension ${type} twice`);
    seen.add(type);
    const data = b.subarray(p, p + len);
    p += len;
    if (HIDDEN_NAME.has(type)) return { kind: 'bad', why: 'a ClientHello with Encrypted Client Hello (or ESNI), which hides the name the server routes by' };
    if (type !== EXT_SERVER_NAME) continue;
    const names = readServerNames(data);
    if (typeof names === 'string') return bad(names);
    if (names.length > 1) return bad('more than one host_name');
    serverName = names[0];
  }
  return serverName === undefined ? { kind: 'tls' } : { kind: 'tls', serverName };
}

/** The host_name entries of a server_name extension, or why it cannot be read. */
function readServerNames(d: Buffer): string[] | string {
  if (d.length < 2 || d.readUInt16BE(0) !== d.length - 2) return 'a server_name list of the wrong length';
  const names: string[] = [];
  let p = 2;
  while (p < d.length) {
    if (d.length - p < 3) return 'a server_name entry cut short';
    const type = d[p]!;
    const len = d.readUInt16BE(p + 1);
    p += 3;
    if (d.length - p < len) return 'a server_name entry cut short';
    if (type === 0) names.push(d.subarray(p, p + len).toString('latin1'));
    p += len;
  }
  return names;
}

/** Postgres SSLRequest and GSSENCRequest (protocol.html: "SSL Session Encryption"). */
const PG_PREFIXES = [Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x30])];
/** PROXY protocol v1 and v2 signatures (haproxy's proxy-protocol.txt). */
const PROXY_HEADERS = [Buffer.from('PROXY '), Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')];

/** Whether buf starts with one of `prefixes` ('whole'), is the start of one it may still become ('part'), or neither. */
function prefixOf(buf: Buffer, prefixes: readonly Buffer[]): 'whole' | 'part' | 'no' {
  if (prefixes.some((x) => buf.length >= x.length && buf.subarray(0, x.length).equals(x))) return 'whole';
  return prefixes.some((x) => buf.length < x.length && x.subarray(0, buf.length).equals(buf)) ? 'part' : 'no';
}

/** HTTP's token characters (RFC 9110 5.6.2): what a method is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/;

/**
 * An HTTP/1 request is told by its request line (servers skip empty lines
 * before it: RFC 9112 2.2). A first line that is whole and has no "HTTP/"
 * in it is not HTTP/1 with headers, so no Host can ride in it.
 */
function readRequestLine(buf: Buffer): FirstBytes {
  let p = 0;
  while (p < buf.length && (buf[p] === 0x0d || buf[p] === 0x0a)) p++;
  const nl = buf.indexOf(0x0a, p);
  const line = buf.subarray(p, nl < 0 ? buf.length : nl).toString('latin1');
  if (nl < 0) {
    if (/HTTP\//i.test(line)) return { kind: 'http' };
    // Could this still become a request line? A method (a token), then whitespace.
    const method = /^[^\s]*/.exec(line)![0];
    if (!TOKEN.test(method)) return { kind: 'opaque' };
    return moreOrBad(buf, 'a first line longer than cordon reads');
  }
  // Any "HTTP/" at all: lenient servers split a request line on tabs and other whitespace too.
  // Whatever Node's strict parser then refuses is refused, never spliced.
  return /HTTP\//i.test(line) ? { kind: 'http' } : { kind: 'opaque' };
}

/** The host part of a name as the proxies compare it: lower case, without one trailing dot. */
function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

export type NameVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'tunnel-name-mismatch' | 'tunnel-unreadable'; readonly message: string };

/**
 * Whether a TLS tunnel's server name agrees with its target. A tunnel to an
 * address literal the policy allowed needs none (clients send none for one:
 * RFC 6066 3 has no place for an address); a named target's must name it.
 */
export function judgeServerName(target: string, port: number, serverName: string | undefined): NameVerdict {
  const where = `${target}:${port}`;
  if (serverName === undefined) {
    if (isIP(target) !== 0) return { ok: true };
    return { ok: false, reason: 'tunnel-name-mismatch', message: `cordon: the tunnel to ${where} was closed: its TLS names no server (no SNI), so nothing shows which host it is for` };
  }
  if (canonicalHost(serverName) === canonicalHost(target) && isIP(target) === 0) return { ok: true };
  return { ok: false, reason: 'tunnel-name-mismatch', message: `cordon: the tunnel to ${where} was closed: its TLS is for ${JSON.stringify(serverName)}, another host than the one it was allowed to` };
}

export type TunnelVerdict =
  | { readonly action: 'go' }
  /** Nothing came (the client, or the relay when its dial failed, closed): closed without a refusal. */
  | { readonly action: 'close' }
  | { readonly action: 'http' }
  | { readonly action: 'refuse'; readonly reason: 'tunnel-name-mismatch' | 'tunnel-unreadable'; readonly message: string };

/** What to do with a tunnel to target:port whose first bytes read as `first` (neither 'more' nor a preamble, which the caller passes on). */
export function judgeTunnel(target: string, port: number, first: Exclude<FirstBytes, { kind: 'more' | 'preamble' }>): TunnelVerdict {
  switch (first.kind) {
    case 'opaque':
      return { action: 'go' };
    case 'empty':
      return { action: 'close' };
    case 'http':
      return { action: 'http' };
    case 'tls': {
      const v = judgeServerName(target, port, first.serverName);
      return v.ok ? { action: 'go' } : { action: 'refuse', reason: v.reason, message: v.message };
    }
    case 'bad':
      return { action: 'refuse', reason: 'tunnel-unreadable', message: `cordon: the tunnel to ${target}:${port} was closed: ${first.why}` };
  }
}
