/**
 * SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), as a
 * sans-IO state machine: bytes in, one of { need more bytes, reply to send
 * and what happened, error } out. No sockets here, so every malformed or
 * hostile byte sequence is unit-tested directly.
 *
 * Trust boundary: every byte comes from the sandbox (attacker-controlled).
 * Lengths are bounded by the one-byte length fields; nothing is allocated
 * from a client-supplied size beyond 255 bytes.
 */

export const SOCKS_VERSION = 5;
export const AUTH_NONE = 0x00;
export const AUTH_USERPASS = 0x02;
export const AUTH_NONE_ACCEPTABLE = 0xff;

/** RFC 1928 reply codes. */
export const REP = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type SocksStep =
  | { kind: 'need-more' }
  | { kind: 'error'; message: string; reply?: Buffer }
  | { kind: 'greeting'; consumed: number; reply: Buffer; method: number }
  | { kind: 'auth'; consumed: number; username: string; password: string }
  | { kind: 'request'; consumed: number; host: string; port: number; addressType: 'ipv4' | 'domain' | 'ipv6' };

/**
 * Client greeting: VER NMETHODS METHODS… The connection is already
 * authenticated by the relay's preamble, so "no authentication" is chosen
 * when offered; username/password is accepted too (and ignored) for clients
 * that insist on sending credentials.
 */
export function parseGreeting(buf: Buffer): SocksStep {
  if (buf.length < 2) return { kind: 'need-more' };
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', message: `not SOCKS5 (version byte ${buf[0]})` };
  const n = buf[1]!;
  if (n === 0) return { kind: 'error', message: 'no authentication methods offered', reply: Buffer.from([SOCKS_VERSION, AUTH_NONE_ACCEPTABLE]) };
  if (buf.length < 2 + n) return { kind: 'need-more' };
  const methods = buf.subarray(2, 2 + n);
  const method = methods.includes(AUTH_NONE) ? AUTH_NONE : methods.includes(AUTH_USERPASS) ? AUTH_USERPASS : undefined;
  if (method === undefined) {
    return { kind: 'error', message: 'client offered neither "no authentication" nor username/password', reply: Buffer.from([SOCKS_VERSION, AUTH_NONE_ACCEPTABLE]) };
  }
  return { kind: 'greeting', consumed: 2 + n, reply: Buffer.from([SOCKS_VERSION, method]), method };
}

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseAuth(buf: Buffer): SocksStep {
  if (buf.length < 2) return { kind: 'need-more' };
  if (buf[0] !== 0x01) return { kind: 'error', message: `bad auth sub-negotiation version ${buf[0]}`, reply: Buffer.from([0x01, 0x01]) };
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return { kind: 'need-more' };
  const plen = buf[2 + ulen]!;
  const end = 3 + ulen + plen;
  if (buf.length < end) return { kind: 'need-more' };
  return {
    kind: 'auth',
    consumed: end,
    username: buf.subarray(2, 2 + ulen).toString('latin1'),
    password: buf.subarray(3 + ulen, end).toString('latin1'),
  };
}

export function authReply(ok: boolean): Buffer {
  return Buffer.from([0x01, ok ? 0x00 : 0x01]);
}

/** Request: VER CMD RSV ATYP DST.ADDR DST.PORT. Only CONNECT is supported. */
export function parseRequest(buf: Buffer): SocksStep {
  if (buf.length < 5) return { kind: 'need-more' };
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', message: `bad request version ${buf[0]}`, reply: reply(REP.generalFailure) };
  const cmd = buf[1]!;
  const atyp = buf[3]!;
  let host: string;
  let addrEnd: number;
  let addressType: 'ipv4' | 'domain' | 'ipv6';
  if (atyp === 0x01) {
    addrEnd = 4 + 4;
    if (buf.length < addrEnd + 2) return { kind: 'need-more' };
    host = Array.from(buf.subarray(4, 8)).join('.');
    addressType = 'ipv4';
  } else if (atyp === 0x03) {
    const len = buf[4]!;
    addrEnd = 5 + len;
    if (buf.length < addrEnd + 2) return { kind: 'need-more' };
    if (len === 0) return { kind: 'error', message: 'empty domain name', reply: reply(REP.hostUnreachable) };
    host = buf.subarray(5, addrEnd).toString('latin1');
    addressType = 'domain';
  } else if (atyp === 0x04) {
    addrEnd = 4 + 16;
    if (buf.length < addrEnd + 2) return { kind: 'need-more' };
    const words: string[] = [];
    for (let i = 0; i < 16; i += 2) words.push(buf.readUInt16BE(4 + i).toString(16));
    host = words.join(':');
    addressType = 'ipv6';
  } else {
    return { kind: 'error', message: `unsupported address type ${atyp}`, reply: reply(REP.addressTypeNotSupported) };
  }
  if (cmd !== 0x01) {
    return { kind: 'error', message: cmd === 0x02 ? 'BIND is not supported' : cmd === 0x03 ? 'UDP ASSOCIATE is not supported' : `unknown command ${cmd}`, reply: reply(REP.commandNotSupported) };
  }
  const port = buf.readUInt16BE(addrEnd);
  return { kind: 'request', consumed: addrEnd + 2, host, port, addressType };
}

/** A reply with BND.ADDR 0.0.0.0:0 (clients do not use it for CONNECT). */
export function reply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}
