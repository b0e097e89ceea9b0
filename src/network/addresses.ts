/**
 * IP addresses: parse, print, classify, and match against ranges.
 *
 * The network policy names hosts, but the proxy dials addresses. Whoever
 * controls the DNS of an allowed name (or any label under an allowed
 * wildcard) chooses those addresses, so every address the proxy would dial is
 * classified here first: loopback, link-local, cloud metadata, the host's own
 * services and friends are the usual targets of an allowed name pointed
 * somewhere it should not go.
 *
 * Trust boundary: every string parsed here may come from the sandbox (an IP
 * literal in a request) or from a resolver answer steered by an attacker.
 * Parsing is strict and self-contained (no `inet_pton`, no WHATWG URL), so
 * what is judged is exactly the 4 or 16 bytes that will be dialed.
 *
 * IPv6 addresses that carry an IPv4 address (IPv4-mapped, -compatible,
 * -translated, NAT64, 6to4, Teredo) reach that IPv4 destination on some
 * network, so the embedded address is extracted and judged too: an IPv6
 * address that embeds a denied IPv4 address is denied.
 */
import { SettingsError } from '../errors.js';

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. Never mutated. */
  readonly bytes: Uint8Array;
}

// ---------------------------------------------------------------- parsing

/** A strict dotted quad (`192.0.2.1`): four decimal octets, no leading zeros. */
export function parseIPv4(s: string): IpAddress | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return { family: 4, bytes };
}

/**
 * True when a host name's last label is a number (`…​.1`, `…​.0x7f`), the
 * WHATWG URL rule: such a host is an IPv4 literal or nothing. `getaddrinfo`
 * and browsers read `127.1`, `0x7f.1` or `2130706433` as 127.0.0.1, so a
 * name like that must never be matched as a name or sent to a resolver.
 * Expects lowercase input without a trailing dot.
 */
export function endsInNumber(name: string): boolean {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last);
}

/**
 * The `inet_aton` forms (and WHATWG's IPv4 parser, which copies them): one to
 * four parts, each decimal, octal (leading `0`) or hex (`0x`, possibly empty),
 * the last part filling the remaining bytes. `127.1`, `0x7f.0.0.1`,
 * `0177.0.0.1` and `2130706433` are all 127.0.0.1. Expects lowercase input
 * without a trailing dot.
 */
export function parseIPv4Numeric(s: string): IpAddress | undefined {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const values: bigint[] = [];
  for (const p of parts) {
    let v: bigint;
    if (/^0x[0-9a-f]*$/.test(p)) v = BigInt(`0x${p.slice(2) || '0'}`);
    else if (/^0[0-7]*$/.test(p)) v = BigInt(`0o${p.slice(1) || '0'}`);
    else if (/^[1-9][0-9]*$/.test(p)) v = BigInt(p);
    else return undefined;
    values.push(v);
  }
  let n = 0n;
  for (let i = 0; i < values.length - 1; i++) {
    if (values[i]! > 255n) return undefined;
    n = (n << 8n) | values[i]!;
  }
  const restBits = BigInt(8 * (5 - values.length));
  const last = values[values.length - 1]!;
  if (last >= 1n << restBits) return undefined;
  n = (n << restBits) | last;
  const bytes = new Uint8Array(4);
  for (let i = 3; i >= 0; i--) {
    bytes[i] = Number(n & 255n);
    n >>= 8n;
  }
  return { family: 4, bytes };
}

/**
 * An IPv6 address (RFC 4291 §2.2): up to eight groups of 1–4 hex digits, one
 * `::` standing for at least one zero group, an optional dotted quad as the
 * last 32 bits. No brackets and no zone id (`%eth0`): callers strip brackets,
 * and a zone id is refused, not ignored (see host.ts).
 */
export function parseIPv6(s: string): IpAddress | undefined {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const dbl = s.indexOf('::');
  let head: string[];
  let tail: string[];
  if (dbl === -1) {
    head = s.split(':');
    tail = [];
  } else {
    if (s.indexOf('::', dbl + 1) !== -1) return undefined;
    const h = s.slice(0, dbl);
    const t = s.slice(dbl + 2);
    head = h === '' ? [] : h.split(':');
    tail = t === '' ? [] : t.split(':');
  }
  const groups: number[] = [];
  const tailGroups: number[] = [];
  const lastPiece = dbl === -1 ? head.length - 1 : head.length + tail.length - 1;
  const pieces = [...head, ...tail];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    const out = i < head.length ? groups : tailGroups;
    if (p.includes('.')) {
      if (i !== lastPiece || (dbl !== -1 && tail.length === 0)) return undefined;
      const v4 = parseIPv4(p);
      if (!v4) return undefined;
      out.push((v4.bytes[0]! << 8) | v4.bytes[1]!, (v4.bytes[2]! << 8) | v4.bytes[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
  }
  const total = groups.length + tailGroups.length;
  if (dbl === -1 ? total !== 8 : total > 7) return undefined;
  const all = [...groups, ...new Array<number>(8 - total).fill(0), ...tailGroups];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 255;
  });
  return { family: 6, bytes };
}

/** A strict IPv4 dotted quad or an IPv6 address (no brackets, no zone). */
export function parseIp(s: string): IpAddress | undefined {
  return s.includes(':') ? parseIPv6(s) : parseIPv4(s);
}

// --------------------------------------------------------------- printing

/** Dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed, `::ffff:a.b.c.d` for mapped). */
export function formatIp(a: IpAddress): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (isMapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best === -1) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** `[v6]:port` or `v4:port`. */
export function formatIpPort(a: IpAddress, port: number): string {
  return a.family === 6 ? `[${formatIp(a)}]:${port}` : `${formatIp(a)}:${port}`;
}

// ------------------------------------------------------- canonical forms

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function v4(b0: number, b1: number, b2: number, b3: number): IpAddress {
  return { family: 4, bytes: Uint8Array.of(b0, b1, b2, b3) };
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) IS that IPv4 address on a
 * dual-stack socket, so it is spelled as one: rules, ranges and requests then
 * compare equal. Anything else is returned unchanged.
 */
export function unmapIPv4(a: IpAddress): IpAddress {
  const b = a.bytes;
  return a.family === 6 && isMapped(b) ? v4(b[12]!, b[13]!, b[14]!, b[15]!) : a;
}

/** The IPv4-mapped IPv6 form of an IPv4 address. */
export function mapIPv4(a: IpAddress): IpAddress {
  if (a.family === 6) return a;
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(a.bytes, 12);
  return { family: 6, bytes };
}

/** Same destination: equal bytes after unmapping. */
export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  const x = unmapIPv4(a);
  const y = unmapIPv4(b);
  return x.family === y.family && x.bytes.every((v, i) => v === y.bytes[i]);
}

// ----------------------------------------------------------------- ranges

export interface AddressRange {
  readonly family: 4 | 6;
  /** The network address (host bits zero). */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** The entry as configured, and where (`network.deniedResolvedAddresses[2]`); empty for built-ins. */
  readonly source: string;
  readonly keyPath: string;
}

export type RangeParse = { readonly ok: true; readonly range: AddressRange } | { readonly ok: false; readonly expected: string };

/**
 * `10.0.0.0/8`, `fd00::/8`, or a single address (= /32, /128). Strict: the
 * address must be a dotted quad or an IPv6 address without brackets or zone,
 * the prefix plain decimal, and no host bits may be set (`10.0.0.1/8` is a
 * typo for something; the error says which network it would be). An
 * IPv4-mapped range (`::ffff:10.0.0.0/104`) is stored as the IPv4 range it
 * stands for.
 */
export function parseAddressRange(entry: string, keyPath = '', source = entry): RangeParse {
  const slash = entry.indexOf('/');
  const addrText = slash === -1 ? entry : entry.slice(0, slash);
  if (addrText.includes('%')) return { ok: false, expected: 'an address without an IPv6 zone id ("%eth0")' };
  if (addrText.startsWith('[')) return { ok: false, expected: 'an IPv6 range without brackets, like "fd00::/8"' };
  const addr = parseIp(addrText);
  if (!addr) return { ok: false, expected: 'an IP address or CIDR range, like "10.0.0.0/8" or "fd00::/8" (IPv4 as a plain dotted quad)' };
  let family = addr.family;
  let bytes: Uint8Array = addr.bytes;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = entry.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return { ok: false, expected: `a prefix length from 0 to ${max} after "/"` };
    prefix = Number(p);
  }
  const masked = maskBytes(bytes, prefix);
  if (!masked.every((v, i) => v === bytes[i])) {
    const suggestion = `${formatIp({ family, bytes: masked })}/${prefix}`;
    return { ok: false, expected: `a network address with no host bits set; write "${suggestion}"` };
  }
  if (family === 6 && prefix >= 96 && isMapped(bytes)) {
    family = 4;
    bytes = bytes.slice(12);
    prefix -= 96;
  }
  return { ok: true, range: { family, bytes, prefix, source, keyPath } };
}

function maskBytes(b: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = b[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/**
 * Whether `range` contains `a`. An IPv4 address is also matched, in its
 * IPv4-mapped form, against IPv6 ranges, so `::/0` or `::ffff:0:0/96` cover
 * every IPv4 address too (deterministically: no runtime differences).
 */
export function rangeContains(range: AddressRange, a: IpAddress): boolean {
  let addr = unmapIPv4(a);
  if (range.family === 6 && addr.family === 4) addr = mapIPv4(addr);
  if (range.family !== addr.family) return false;
  const m = maskBytes(addr.bytes, range.prefix);
  return m.every((v, i) => v === range.bytes[i]);
}

/**
 * Parse a settings list of ranges (`network.deniedResolvedAddresses`). Throws
 * SettingsError naming the entry (`network.deniedResolvedAddresses[3]`).
 */
export function parseAddressRanges(entries: unknown, keyPath: string, file: string): AddressRange[] {
  if (!Array.isArray(entries)) throw new SettingsError(file, keyPath, 'an array of IP addresses or CIDR ranges', entries);
  return entries.map((e, i) => {
    const kp = `${keyPath}[${i}]`;
    if (typeof e !== 'string') throw new SettingsError(file, kp, 'a string', e);
    const r = parseAddressRange(e, kp);
    if (!r.ok) throw new SettingsError(file, kp, r.expected, e);
    return r.range;
  });
}

function builtin(entry: string): AddressRange {
  const r = parseAddressRange(entry);
  if (!r.ok) throw new Error(`built-in range ${entry}: ${r.expected}`);
  return r.range;
}

// --------------------------------------------------------- classification

/**
 * One class per address, the most specific first: a metadata endpoint inside
 * link-local or private space reports `metadata`.
 * - `private`: RFC 1918, CGNAT 100.64/10, ULA fc00::/7, deprecated site-local
 *   fec0::/10, the NAT64 local-use prefix.
 * - `reserved`: 240/4, 192.0.0/24, 198.18/15 benchmarking, 2001:2::/48,
 *   100::/64 discard, IPv4-compatible and -translated IPv6, and every IPv6
 *   address outside 2000::/3 not classified otherwise.
 * - `documentation`: 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
 */
export type AddressClass =
  | 'metadata'
  | 'unspecified'
  | 'loopback'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'private'
  | 'reserved'
  | 'documentation'
  | 'global';

/** Classes an allowed host name may never resolve to. */
export const DENIED_CLASSES: ReadonlySet<AddressClass> = new Set<AddressClass>([
  'metadata', 'unspecified', 'loopback', 'link-local', 'multicast', 'broadcast', 'reserved',
]);

/**
 * Local, non-internet space: denied only on request (`denyPrivateAddresses`).
 * A corporate registry or proxy legitimately lives in 10/8; documentation
 * ranges are not routed on the internet either, so where one answers it is
 * a local network like any private one (this very test host uses 192.0.2/24).
 */
export const LOCAL_CLASSES: ReadonlySet<AddressClass> = new Set<AddressClass>(['private', 'documentation']);

/**
 * Cloud instance-metadata / platform endpoints. Most sit in link-local space
 * (denied anyway); they are named so a refusal says what was at stake.
 */
const METADATA_ENTRIES: readonly string[] = [
  '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean and other clouds: instance metadata
  '169.254.170.2', // AWS ECS task metadata / credentials
  '100.100.100.200', // Alibaba Cloud
  '168.63.129.16', // Azure WireServer (a public address)
  '192.0.0.192', // Oracle Cloud Classic
  'fd00:ec2::/32', // AWS IPv6 service block: IMDS fd00:ec2::254, DNS, NTP
  'fd20:ce::254', // GCP, IPv6-only instances
  'fd00:c1::a9fe:a9fe', // Oracle Cloud IPv6
  'fd00:42::42', // Scaleway IPv6
  'fd00:a9fe:a9fe::1', // Akamai / Linode IPv6
  'fd00:100::100:200', // Alibaba Cloud IPv6
];

const TABLE_ENTRIES: ReadonlyArray<readonly [AddressClass, readonly string[]]> = [
  ['metadata', METADATA_ENTRIES],
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  ['broadcast', ['255.255.255.255/32']],
  ['reserved', ['240.0.0.0/4', '192.0.0.0/24', '198.18.0.0/15', '2001:2::/48', '100::/64']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fec0::/10', '64:ff9b:1::/48']],
  ['documentation', ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20']],
];

/**
 * Parsed on first use, not when the module loads: every run loads this
 * code, but only a run with a filtered network classifies addresses, and
 * parsing the table cost ~1-3 ms of every start.
 */
let parsed: { table: ReadonlyArray<readonly [AddressClass, readonly AddressRange[]]>; globalUnicastV6: AddressRange } | undefined;
function ranges(): NonNullable<typeof parsed> {
  parsed ??= { table: TABLE_ENTRIES.map(([cls, list]) => [cls, list.map(builtin)] as const), globalUnicastV6: builtin('2000::/3') };
  return parsed;
}

/** The class of the address itself (IPv4-mapped addresses are classified as their IPv4 address). */
export function classifyAddress(input: IpAddress): AddressClass {
  const a = unmapIPv4(input);
  const { table, globalUnicastV6 } = ranges();
  for (const [cls, list] of table) {
    if (list.some((r) => r.family === a.family && rangeContains(r, a))) return cls;
  }
  if (a.family === 6) {
    const b = a.bytes;
    // IPv4-compatible (::/96) and IPv4-translated (::ffff:0:0:0/96): deprecated or
    // translator-internal; never a legitimate DNS answer.
    if (b.subarray(0, 12).every((x) => x === 0)) return 'reserved';
    if (!rangeContains(globalUnicastV6, a) && !isNat64WellKnown(b)) return 'reserved';
  }
  return 'global';
}

export type EmbeddingKind =
  | 'ipv4-mapped' // ::ffff:a.b.c.d
  | 'ipv4-compatible' // ::a.b.c.d (deprecated)
  | 'ipv4-translated' // ::ffff:0:a.b.c.d (SIIT)
  | 'nat64' // 64:ff9b::/96
  | 'nat64-local' // 64:ff9b:1::/48, every RFC 6052 layout that fits
  | '6to4' // 2002:aabb:ccdd::/48
  | 'teredo-server' // 2001:0:SSSS:SSSS::
  | 'teredo-client'; // 2001:0:…:~CCCC:~CCCC (obfuscated)

export interface Embedded {
  readonly via: EmbeddingKind;
  readonly address: IpAddress;
  readonly class: AddressClass;
}

function isNat64WellKnown(b: Uint8Array): boolean {
  return b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.subarray(4, 12).every((x) => x === 0);
}

function zero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * The IPv4 addresses an IPv6 address carries. The local-use NAT64 prefix
 * (RFC 8215) may hold the IPv4 address in any RFC 6052 layout (/48, /56,
 * /64, /96), which the address alone cannot tell: every layout whose suffix
 * and `u` octet are zero is decoded, and the caller denies if any decoding is
 * denied (fail closed; it over-refuses some /48–/64-layout addresses).
 */
export function embeddedIPv4(input: IpAddress): Embedded[] {
  if (input.family !== 6) return [];
  const b = input.bytes;
  const out: Array<[EmbeddingKind, IpAddress]> = [];
  const low = (): IpAddress => v4(b[12]!, b[13]!, b[14]!, b[15]!);
  if (isMapped(b)) out.push(['ipv4-mapped', low()]);
  else if (zero(b, 0, 12)) {
    // `::` and `::1` are unspecified / loopback themselves, not 0.0.0.0 / 0.0.0.1.
    if (!(zero(b, 12, 15) && (b[15] === 0 || b[15] === 1))) out.push(['ipv4-compatible', low()]);
  } else if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) out.push(['ipv4-translated', low()]);
  else if (isNat64WellKnown(b)) out.push(['nat64', low()]);
  else if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0x00 && b[5] === 0x01) {
    out.push(['nat64-local', low()]); // /96
    if (b[8] === 0) {
      if (zero(b, 13, 16)) out.push(['nat64-local', v4(b[9]!, b[10]!, b[11]!, b[12]!)]); // /64
      if (zero(b, 12, 16)) out.push(['nat64-local', v4(b[7]!, b[9]!, b[10]!, b[11]!)]); // /56
      if (zero(b, 11, 16)) out.push(['nat64-local', v4(b[6]!, b[7]!, b[9]!, b[10]!)]); // /48
    }
  } else if (b[0] === 0x20 && b[1] === 0x02) out.push(['6to4', v4(b[2]!, b[3]!, b[4]!, b[5]!)]);
  else if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) {
    out.push(['teredo-server', v4(b[4]!, b[5]!, b[6]!, b[7]!)]);
    out.push(['teredo-client', v4(b[12]! ^ 0xff, b[13]! ^ 0xff, b[14]! ^ 0xff, b[15]! ^ 0xff)]);
  }
  return out.map(([via, address]) => ({ via, address, class: classifyAddress(address) }));
}

export interface Classification {
  readonly class: AddressClass;
  readonly embedded: readonly Embedded[];
}

/** The address's own class and those of every IPv4 address it embeds. */
export function classify(a: IpAddress): Classification {
  return { class: classifyAddress(a), embedded: embeddedIPv4(a) };
}
