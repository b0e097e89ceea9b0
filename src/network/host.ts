/**
 * Host normalisation: one function turns the host a client sent into either
 * a canonical name or an IP address, and the rule grammar uses the same
 * checks, so a rule and a request can only match when they mean the same
 * destination.
 *
 * Trust boundary: the host string comes from the sandbox (an HTTP request
 * line, a CONNECT authority, a SOCKS5 request) and is attacker-controlled.
 * Everything that could be read two ways is either canonicalised or refused:
 * case, one trailing dot, IDN (→ punycode), numeric IPv4 spellings that
 * `inet_aton` accepts (`127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`),
 * IPv4-mapped IPv6, brackets. Zone ids (`fe80::1%eth0`) are refused: the
 * zone is free text (`::ffff:1.2.3.4%x.allowed.com`) that a matcher might
 * read as a name while the OS dials the bare address.
 */
import { domainToASCII } from 'node:url';
import { endsInNumber, formatIp, parseIPv4Numeric, parseIPv6, unmapIPv4, type IpAddress } from './addresses.js';

export type Host =
  /** Lowercase ASCII, LDH plus underscore, no trailing dot. */
  | { readonly kind: 'name'; readonly name: string }
  /** Canonical: IPv4-mapped IPv6 is stored as IPv4. */
  | { readonly kind: 'ip'; readonly address: IpAddress };

export type HostParse = { readonly ok: true; readonly host: Host } | { readonly ok: false; readonly problem: string };

/** Longer input is refused before any work is done on it. */
const MAX_RAW = 1024;

/**
 * Parse a host as a client sent it: a name (any case, IDN, one trailing dot),
 * an IPv4 literal in any `inet_aton` spelling, or an IPv6 literal with or
 * without brackets.
 */
export function parseHost(raw: string): HostParse {
  if (typeof raw !== 'string' || raw === '') return fail('the host is empty');
  if (raw.length > MAX_RAW) return fail(`the host is longer than ${MAX_RAW} characters`);
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return fail('a bracketed IPv6 address must end with "]" (the port is passed separately)');
    return ipv6(raw.slice(1, -1));
  }
  // Unbracketed IPv6 (SOCKS5, or a proxy that stripped the brackets). Other
  // strings with a colon fall through to the name checks, which name the ":".
  if (raw.includes(':') && /^[0-9a-fA-F:.]+(%.*)?$/s.test(raw)) return ipv6(raw);
  let s = raw;
  if (/[^\x00-\x7f]/.test(s)) {
    // UTS #46 mapping, as a browser or curl would apply before resolving:
    // fullwidth letters fold, ideographic full stops become dots, labels
    // become punycode. The result is judged like any ASCII host.
    const ascii = domainToASCII(s);
    if (ascii === '') return fail('not a valid internationalised domain name');
    s = ascii;
  }
  s = s.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '') return fail('the host is empty');
  if (endsInNumber(s)) {
    const a = parseIPv4Numeric(s);
    return a ? { ok: true, host: { kind: 'ip', address: a } } : fail('it ends in a number but is not a valid IPv4 address');
  }
  const problem = nameProblem(s);
  return problem ? fail(problem) : { ok: true, host: { kind: 'name', name: s } };
}

/**
 * Why a lowercase ASCII name (no trailing dot) is not a valid host name, or
 * undefined. Letters, digits, hyphen; underscore is tolerated (real records
 * use it: `_acme-challenge`, legacy intranet names) since it cannot change how
 * the name is split or matched. Labels 1–63 characters, no leading or
 * trailing hyphen; at most 253 characters in all.
 */
export function nameProblem(name: string): string | undefined {
  if (name.length > 253) return 'the name is longer than 253 characters';
  for (const label of name.split('.')) {
    if (label === '') return 'the name has an empty label';
    const bad = /[^a-z0-9_-]/.exec(label);
    if (bad) return `character ${describeChar(bad[0])} is not allowed in a host name`;
    if (label.length > 63) return `the label "${label.slice(0, 20)}..." is longer than 63 characters`;
    if (label.startsWith('-') || label.endsWith('-')) return `the label "${label}" starts or ends with a hyphen`;
  }
  return undefined;
}

/** `name`, `a.b.c.d` or `[v6]` (canonical). */
export function formatHost(h: Host): string {
  if (h.kind === 'name') return h.name;
  return h.address.family === 6 ? `[${formatIp(h.address)}]` : formatIp(h.address);
}

export function formatHostPort(h: Host, port: number): string {
  return `${formatHost(h)}:${port}`;
}

/**
 * An attacker-controlled string made safe for a one-line message, a log or an
 * HTTP status phrase: quoted, truncated, every character outside printable
 * ASCII escaped (CR/LF, NUL, bidi overrides, U+2028…).
 */
export function quoteUntrusted(s: unknown): string {
  const text = typeof s === 'string' ? s : String(s);
  const cut = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return `"${cut.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

function describeChar(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp > 0x20 && cp < 0x7f ? `"${c}" (${hex})` : hex;
}

function ipv6(text: string): HostParse {
  if (text.includes('%')) return fail('IPv6 zone ids ("%eth0") are not accepted');
  const a = parseIPv6(text);
  return a ? { ok: true, host: { kind: 'ip', address: unmapIPv4(a) } } : fail('not a valid IPv6 address');
}

function fail(problem: string): HostParse {
  return { ok: false, problem };
}
