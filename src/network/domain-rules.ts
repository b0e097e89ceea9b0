/**
 * The domain rule grammar of `network.allowedDomains` / `network.deniedDomains`
 * (compatible with srt's), parsed once into rules, and the matcher.
 *
 *   example.com            exactly that name (any port)
 *   *.example.com          every strict subdomain, at any depth; NOT the apex
 *                          (srt's semantics: `h.endsWith('.' + base)`); the
 *                          base needs two labels (`*.com` is refused as too broad)
 *   api.example.com:443    any entry may end in `:port` (1–65535, no leading zero)
 *   192.0.2.1, [2001:db8::1], [::1]:8443
 *                          IP literals; IPv6 must be bracketed (unbracketed,
 *                          `2001:db8::1:443` is ambiguous with a port)
 *   *, *:22                deny-all (on a port); only in deniedDomains
 *
 * Names are normalised as request hosts are (host.ts): case folded, one
 * trailing dot dropped, LDH plus underscore. A rule must already be in the
 * form a request is canonicalised to, or it is refused with the fix: ASCII
 * only (the error gives the punycode), IPv4 as a plain dotted quad (`127.1`
 * → "write 127.0.0.1"), IPv4-mapped IPv6 stored as the IPv4 address.
 *
 * Trust boundary: the entries come from settings files, which may be
 * project-controlled; every entry is validated and an invalid one is an
 * error naming its key path, never silently dropped.
 */
import { domainToASCII } from 'node:url';
import { SettingsError } from '../errors.js';
import { embeddedIPv4, endsInNumber, formatIp, parseIPv4, parseIPv4Numeric, parseIPv6, sameAddress, unmapIPv4, type IpAddress } from './addresses.js';
import { nameProblem, parseHost, type Host } from './host.js';

export type HostPattern =
  | { readonly kind: 'any' }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'subdomains'; readonly base: string }
  | { readonly kind: 'ip'; readonly address: IpAddress };

export interface DomainRule {
  /** The entry as written. */
  readonly source: string;
  /** Where it was written: `network.allowedDomains[3]`. */
  readonly keyPath: string;
  /** The settings file it was written in ("command line" for a flag), for `cordon explain` and `cordon check`; never shown to the sandbox. */
  readonly file?: string;
  readonly pattern: HostPattern;
  /** Undefined: every port. */
  readonly port: number | undefined;
}

export type RuleList = 'allow' | 'deny';

export type RuleParse =
  | { readonly ok: true; readonly pattern: HostPattern; readonly port: number | undefined }
  | { readonly ok: false; readonly expected: string };

const GRAMMAR = 'a domain ("example.com"), a wildcard ("*.example.com"), an IPv4 address or a bracketed IPv6 address ("[::1]"), optionally followed by ":port"';

/** Parse `network.allowedDomains`. Throws SettingsError naming the entry. */
export function parseAllowedDomains(entries: unknown, keyPath: string, file: string): DomainRule[] {
  return parseDomainRules(entries, keyPath, file, 'allow');
}

/** Parse `network.deniedDomains` (which also accepts `*` and `*:port`). Throws SettingsError naming the entry. */
export function parseDeniedDomains(entries: unknown, keyPath: string, file: string): DomainRule[] {
  return parseDomainRules(entries, keyPath, file, 'deny');
}

export function parseDomainRules(entries: unknown, keyPath: string, file: string, list: RuleList): DomainRule[] {
  if (!Array.isArray(entries)) throw new SettingsError(file, keyPath, `an array of strings, each ${GRAMMAR}`, entries);
  return entries.map((entry, i) => {
    const kp = `${keyPath}[${i}]`;
    if (typeof entry !== 'string') throw new SettingsError(file, kp, `a string: ${GRAMMAR}`, entry);
    const r = parseDomainRule(entry, list);
    if (!r.ok) throw new SettingsError(file, kp, r.expected, entry);
    return { source: entry, keyPath: kp, file, pattern: r.pattern, port: r.port };
  });
}

/** One entry. `expected` completes "expected …, found <entry>". */
export function parseDomainRule(entry: string, list: RuleList): RuleParse {
  if (entry === '') return no(GRAMMAR);
  let hostPart: string;
  let port: number | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1) return no('a "]" closing the bracketed IPv6 address');
    const rest = entry.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return no('nothing but ":port" after the "]"');
      port = parsePort(rest.slice(1));
      if (port === undefined) return no(PORT);
    }
    const inner = entry.slice(1, close);
    if (inner.includes('%')) return no('an IPv6 address without a zone id ("%eth0"); zone ids are not supported');
    const a = parseIPv6(inner);
    if (!a) return no('a valid IPv6 address inside the brackets');
    return { ok: true, pattern: { kind: 'ip', address: unmapIPv4(a) }, port };
  }
  const colons = entry.split(':').length - 1;
  if (colons >= 2) return no('an IPv6 address in brackets, like "[2001:db8::1]" or "[::1]:443" (unbracketed it is ambiguous with a port)');
  if (colons === 1) {
    const at = entry.indexOf(':');
    port = parsePort(entry.slice(at + 1));
    if (port === undefined) return no(PORT);
    hostPart = entry.slice(0, at);
  } else {
    hostPart = entry;
  }
  const withPort = (h: string): string => (port === undefined ? h : `${h}:${port}`);

  if (hostPart === '*') {
    return list === 'deny'
      ? { ok: true, pattern: { kind: 'any' }, port }
      : no('a domain to allow; a bare "*" (everything) is accepted only in deniedDomains');
  }
  if (/[^\x00-\x7f]/.test(hostPart)) {
    const ascii = domainToASCII(hostPart);
    return no(ascii && !/[^a-z0-9_.*-]/.test(ascii)
      ? `an ASCII domain; write the punycode form "${withPort(ascii)}"`
      : 'an ASCII domain (internationalised names in their punycode "xn--" form)');
  }
  let h = hostPart.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '' || h === '*') return no(GRAMMAR); // "." or "*." (a bare "*" is handled above)

  if (h.startsWith('*.')) {
    const base = h.slice(2);
    if (base.includes('*')) return no('"*" only as the whole leftmost label, as in "*.example.com"');
    if (endsInNumber(base)) return no('a domain after "*." (a wildcard cannot cover IP addresses)');
    const problem = nameProblem(base);
    if (problem) return no(`a valid domain after "*." (${problem})`);
    if (!base.includes('.')) return no(`at least two labels after "*.", like "*.example.com" ("${h}" is too broad)`);
    if (!punycodeOk(base)) return no('valid punycode in the "xn--" labels');
    return { ok: true, pattern: { kind: 'subdomains', base }, port };
  }
  if (h.includes('*')) return no('"*" only as the whole leftmost label, as in "*.example.com"');

  if (endsInNumber(h)) {
    const a = parseIPv4(h);
    if (a) return { ok: true, pattern: { kind: 'ip', address: a }, port };
    const loose = parseIPv4Numeric(h);
    return no(loose
      ? `an IPv4 address as a plain dotted quad; write "${withPort(formatIp(loose))}"`
      : 'a valid IPv4 address (a name whose last label is a number is read as one)');
  }
  const problem = nameProblem(h);
  if (problem) return no(`${GRAMMAR} (${problem})`);
  if (!punycodeOk(h)) return no('valid punycode in the "xn--" labels');
  return { ok: true, pattern: { kind: 'name', name: h }, port };
}

const PORT = 'a port from 1 to 65535 after ":" (digits only, no leading zero)';

function parsePort(s: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** A name with `xn--` labels must decode; a broken label is a typo that would never match what a client sends. */
function punycodeOk(name: string): boolean {
  return !name.split('.').some((l) => l.startsWith('xn--')) || domainToASCII(name) !== '';
}

function no(expected: string): RuleParse {
  return { ok: false, expected };
}

// ---------------------------------------------------------------- matching

/** Whether the rule's host pattern covers `host` (ports not considered). */
export function patternMatches(pattern: HostPattern, host: Host): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'name':
      return host.kind === 'name' && host.name === pattern.name;
    case 'subdomains':
      // Both sides are validated names, so a dot-anchored suffix is exact:
      // `evilexample.com` and `example.com.evil.net` never end in ".example.com".
      return host.kind === 'name' && host.name.endsWith(`.${pattern.base}`);
    case 'ip':
      return host.kind === 'ip' && sameAddress(host.address, pattern.address);
  }
}

/** Whether the rule covers `host` on `port`. */
export function ruleMatches(rule: DomainRule, host: Host, port: number): boolean {
  return (rule.port === undefined || rule.port === port) && patternMatches(rule.pattern, host);
}

/** Whether any of `rules` covers `host` (as a client sent it: parsed here; unparsable matches nothing) on `port`. */
export function anyRuleCovers(rules: readonly DomainRule[], host: string, port: number): boolean {
  const h = parseHost(host);
  return h.ok && rules.some((r) => ruleMatches(r, h.host, port));
}

/**
 * Whether an IP rule (or `*`) of a deny list covers an address a name resolved
 * to, or an IPv4 address it embeds: denying 127.0.0.1 also denies
 * 64:ff9b::7f00:1. Name rules never match addresses.
 */
export function ruleCoversAddress(rule: DomainRule, address: IpAddress, port: number): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  if (rule.pattern.kind === 'any') return true;
  if (rule.pattern.kind !== 'ip') return false;
  const p = rule.pattern.address;
  return sameAddress(address, p) || embeddedIPv4(address).some((e) => sameAddress(e.address, p));
}

/** The entry in canonical spelling (`[::1]:443`, `*.example.com`). */
export function formatPattern(pattern: HostPattern): string {
  switch (pattern.kind) {
    case 'any':
      return '*';
    case 'name':
      return pattern.name;
    case 'subdomains':
      return `*.${pattern.base}`;
    case 'ip':
      return pattern.address.family === 6 ? `[${formatIp(pattern.address)}]` : formatIp(pattern.address);
  }
}
