/**
 * The one decision behind every proxy (HTTP absolute-form, CONNECT, SOCKS5):
 * may the sandbox open a TCP connection to host:port, and if so, to which
 * address exactly. Sans-IO: the only effect is the injected resolver, called
 * at most once, so the whole decision table is unit-tested without sockets.
 *
 * Trust boundary: `request.host` and `request.port` come from the sandbox and
 * are attacker-controlled; so are resolver answers for any name whose DNS the
 * attacker controls (every label under an allowed wildcard, any allowed name
 * on a domain someone else runs). The policy is trusted.
 *
 * Order (deny always wins):
 *   1. the host is normalised (host.ts) or refused: `invalid-host`;
 *   2. a deniedDomains rule matching the host and port refuses: `denied-by-rule`;
 *   3. an IP literal is allowed only when an allowedDomains IP rule names it
 *      (then even loopback is the user's explicit choice), unless a deny IP
 *      rule or a denied range covers it or an IPv4 address it embeds;
 *   4. a name must match an allowedDomains rule: `not-allowlisted`;
 *   5. the name is resolved once; every answer in the denied set is dropped
 *      (see judgeAddress); the first survivor is the address to dial, and
 *      the proxy must dial exactly it, never resolve again.
 */
import {
  DENIED_CLASSES, LOCAL_CLASSES, classify, formatIp, parseAddressRanges, parseIp, rangeContains, sameAddress, unmapIPv4,
  type AddressClass, type AddressRange, type EmbeddingKind, type IpAddress,
} from './addresses.js';
import { parseAllowedDomains, parseDeniedDomains, patternMatches, ruleCoversAddress, ruleMatches, type DomainRule } from './domain-rules.js';
import { formatHost, formatHostPort, parseHost, quoteUntrusted, type Host } from './host.js';
import { literalAddress, routeMitm, routeThrough, throughAuthority, type MitmProxy, type ParentProxy, type ProxyEndpoint } from './parent-proxy.js';
import type { Through } from '../proxy/types.js';

export type Via = 'http' | 'https' | 'connect' | 'socks5';

export interface ConnectionRequest {
  /** As the client sent it: a name, an IPv4 literal, an IPv6 literal (bracketed or not). Attacker-controlled. */
  readonly host: string;
  readonly port: number;
  readonly via: Via;
}

export interface NetworkPolicy {
  /** network.allowedDomains, parsed. */
  readonly allow: readonly DomainRule[];
  /** network.deniedDomains, parsed. */
  readonly deny: readonly DomainRule[];
  /** network.deniedResolvedAddresses, parsed: never dialed, by name or by literal. */
  readonly deniedRanges: readonly AddressRange[];
  /**
   * This host's interface addresses. A service bound to 0.0.0.0 answers on
   * them exactly as on loopback. They change (DHCP, VPN): pass a fresh list
   * per decision (see host-addresses.ts) rather than one from startup.
   */
  readonly hostAddresses: readonly IpAddress[];
  /**
   * Also refuse names resolving into local space: private (10/8, 172.16/12,
   * 192.168/16, 100.64/10, fc00::/7, fec0::/10, 64:ff9b:1::/48) and
   * documentation ranges. Off by default: an intranet registry or proxy is a
   * legitimate allowed name. Turn it on when a wildcard covers DNS you do not
   * control, which could otherwise aim an allowed name at your LAN.
   */
  readonly denyPrivateAddresses: boolean;
  /** The upstream proxy allowed connections go through (parent-proxy.ts); absent: dialed directly. */
  readonly parent?: ParentProxy;
  /** The inspecting proxy the hosts it names go through (parent-proxy.ts), before the parent proxy. */
  readonly mitm?: MitmProxy;
}

export interface DecideDeps {
  /**
   * Resolve a name to IP address strings (both families, the resolver's
   * order). Names with a dot are passed fully qualified (`example.com.`) so
   * resolv.conf search domains cannot turn an allowed name into another one.
   */
  readonly resolve: (name: string) => Promise<readonly string[]>;
  /**
   * The kernel's word on whether an address is this host's own (a service
   * bound to 0.0.0.0 answers there): it also knows what no interface list
   * shows, an address on an interface with no link (a bridge whose
   * containers stopped) or a route of type local. Asked of each resolved
   * address that passed every other check, before it is dialed.
   */
  readonly isLocal?: (address: string) => Promise<boolean>;
}

export type RefusalReason =
  | 'invalid-host'
  | 'invalid-port'
  | 'denied-by-rule'
  | 'ip-literal-not-allowlisted'
  | 'not-allowlisted'
  | 'resolve-failed'
  | 'resolved-to-denied-address';

/** Why one resolved address may not be dialed. */
export type AddressDenial =
  | Exclude<AddressClass, 'global'>
  | 'host-address'
  | 'denied-by-rule'
  | 'denied-range'
  | 'unparsable';

export interface DroppedAddress {
  /** As the resolver returned it (host-side audit only; never put in a message to the sandbox). */
  readonly address: string;
  readonly denial: AddressDenial;
  /** When the denial came from an embedded IPv4 address. */
  readonly via?: EmbeddingKind;
  /** The deniedDomains / deniedResolvedAddresses entry, when one matched. */
  readonly keyPath?: string;
}

export type Decision =
  | {
      readonly allow: true;
      /** Canonical host (`example.com`, `127.0.0.1`, `[::1]`). */
      readonly host: string;
      /** What the proxy must dial: exactly this address, never a re-resolution. */
      readonly dial: { readonly address: string; readonly port: number; readonly family: 4 | 6 };
      /** The allowedDomains entry that allowed it, as written, and where. */
      readonly rule: string;
      readonly ruleKeyPath: string;
      /** Resolved addresses that were skipped, and why. */
      readonly dropped: readonly DroppedAddress[];
      /** Every address the name resolved to (canonical spelling), the dialed one among them; absent for a literal. */
      readonly answers?: readonly string[];
      /** Through the upstream proxy (`dial` is the proxy): the name was not resolved here. */
      readonly through?: Through;
    }
  | {
      readonly allow: false;
      readonly reason: RefusalReason;
      /** One line for the agent: what was refused, why, and what would allow it. */
      readonly message: string;
      /** The setting that would allow it (`network.allowedDomains: add "example.com"`), or null when none may. */
      readonly fix: string | null;
      readonly host?: string;
      readonly rule?: string;
      readonly ruleKeyPath?: string;
      readonly dropped?: readonly DroppedAddress[];
    };

export async function decide(request: ConnectionRequest, policy: NetworkPolicy, deps: DecideDeps): Promise<Decision> {
  const { port } = request;
  const parsed = parseHost(request.host);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    const shown = parsed.ok ? formatHost(parsed.host) : quoteUntrusted(request.host);
    return refuse('invalid-port', `connection to ${shown} port ${quoteUntrusted(String(port))} refused: the port must be an integer from 1 to 65535`);
  }
  if (!parsed.ok) {
    return refuse('invalid-host', `connection to ${quoteUntrusted(request.host)} port ${port} refused: not a valid host name or IP address (${parsed.problem})`);
  }
  const host = parsed.host;
  const target = formatHostPort(host, port);
  const shown = formatHost(host);

  const denyRule = policy.deny.find((r) => ruleMatches(r, host, port));
  if (denyRule) return deniedByRule(target, shown, denyRule);

  if (host.kind === 'ip') {
    const d = decideLiteral(host.address, port, target, shown, policy);
    const route = d.allow ? routeOf(policy, host, port, request.via) : undefined;
    return d.allow && route ? viaParent(d, route, host, port, policy, deps) : d;
  }

  const allowRule = policy.allow.find((r) => ruleMatches(r, host, port));
  if (!allowRule) {
    const otherPorts = policy.allow.filter((r) => patternMatches(r.pattern, host)).map((r) => r.port);
    const why = otherPorts.length > 0
      ? `network.allowedDomains allows ${shown} only on port${otherPorts.length > 1 ? 's' : ''} ${otherPorts.join(', ')}; add "${target}" to allow this port`
      : `not in network.allowedDomains; add "${shown}" to allow it`;
    return { ...refuse('not-allowlisted', `connection to ${target} refused: ${why}`, `network.allowedDomains: add "${otherPorts.length > 0 ? target : shown}"`), host: shown };
  }

  // Through the upstream or the inspecting proxy: it resolves the name (and polices where it leads).
  const route = routeOf(policy, host, port, request.via);
  if (route) {
    return viaParent({ allow: true, host: shown, dial: { address: '', port, family: 4 }, rule: allowRule.source, ruleKeyPath: allowRule.keyPath, dropped: [] }, route, host, port, policy, deps);
  }

  let answers: readonly string[];
  try {
    // The normalised name as written (no trailing dot): the resolver makes it
    // absolute itself (resolve.ts resolveAll: no search domain is tried).
    answers = await deps.resolve(host.name);
    if (!Array.isArray(answers)) throw new TypeError('resolver returned a non-array');
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const detail = typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? ` (${code})` : '';
    return { ...refuse('resolve-failed', `connection to ${target} refused: ${shown} could not be resolved${detail}`), host: shown, rule: allowRule.source, ruleKeyPath: allowRule.keyPath };
  }
  if (answers.length === 0) {
    return { ...refuse('resolve-failed', `connection to ${target} refused: ${shown} has no addresses`), host: shown, rule: allowRule.source, ruleKeyPath: allowRule.keyPath };
  }

  const dropped: DroppedAddress[] = [];
  for (const answer of answers) {
    const a = typeof answer === 'string' ? parseIp(answer) : undefined;
    if (!a) {
      dropped.push({ address: String(answer), denial: 'unparsable' });
      continue;
    }
    const verdict = judgeAddress(a, port, policy);
    if (verdict === undefined) {
      const dial = unmapIPv4(a);
      // The carve-out (the address itself allow-listed) grants it whatever the kernel says.
      if (deps.isLocal && !allowListedAddress(dial, port, policy) && await deps.isLocal(formatIp(dial))) {
        dropped.push({ address: answer, denial: 'host-address' });
        continue;
      }
      const all = answers.flatMap((x) => { const ip = typeof x === 'string' ? parseIp(x) : undefined; return ip ? [formatIp(unmapIPv4(ip))] : []; });
      return { allow: true, host: shown, dial: { address: formatIp(dial), port, family: dial.family }, rule: allowRule.source, ruleKeyPath: allowRule.keyPath, dropped, answers: all };
    }
    dropped.push({ address: answer, ...verdict });
  }
  // Class names only: the addresses themselves stay in the host-side audit
  // (`dropped`), so the proxy is not a DNS oracle for the sandbox.
  const classes = [...new Set(dropped.map((d) => DENIAL_TEXT[d.denial]))].join(', ');
  // The carve-out can lift built-in denials only; the user's own denials win.
  const liftable = dropped.every((d) => d.denial !== 'denied-by-rule' && d.denial !== 'denied-range' && d.denial !== 'unparsable');
  const hint = liftable ? ` If this is intended, add that address itself (with ":${port}") to network.allowedDomains` : '';
  const first = dropped[0]!;
  const firstIp = parseIp(first.address);
  const userKey = dropped.find((d) => d.keyPath !== undefined)?.keyPath;
  const fix = liftable && firstIp ? `network.allowedDomains: add "${formatHostPort({ kind: 'ip', address: firstIp }, port)}"` : userKey ? `remove ${userKey}` : null;
  return {
    ...refuse('resolved-to-denied-address', `connection to ${target} refused: ${shown} resolves only to denied addresses (${classes}); an allowed name may not lead there.${hint}`, fix),
    host: shown, rule: allowRule.source, ruleKeyPath: allowRule.keyPath, dropped,
  };
}

function decideLiteral(address: IpAddress, port: number, target: string, shown: string, policy: NetworkPolicy): Decision {
  // Deny IP rules already matched the literal itself; these also catch an
  // IPv4 address embedded in an IPv6 literal, and the denied ranges.
  const userDenial = userDenied(address, port, policy);
  if (userDenial) {
    return { ...refuse('denied-by-rule', `connection to ${target} refused: covered by ${userDenial.keyPath}${userDenial.via ? ` (the IPv4 address it carries, ${userDenial.via})` : ''}; deny rules win over network.allowedDomains`, `remove ${userDenial.keyPath}`), host: shown, ruleKeyPath: userDenial.keyPath };
  }
  const allowRule = policy.allow.find((r) => r.pattern.kind === 'ip' && ruleMatches(r, { kind: 'ip', address }, port));
  if (!allowRule) {
    return { ...refuse('ip-literal-not-allowlisted', `connection to ${target} refused: an IP address is reachable only when it is itself listed in network.allowedDomains; connect by host name, or add "${target}" to allow it`, `network.allowedDomains: add "${target}"`), host: shown };
  }
  return { allow: true, host: shown, dial: { address: formatIp(address), port, family: address.family }, rule: allowRule.source, ruleKeyPath: allowRule.keyPath, dropped: [] };
}

/** The proxy a connection to host:port goes through: the inspecting one where it names the host, else the upstream one where one applies (parent-proxy.ts). */
function routeOf(policy: NetworkPolicy, host: Host, port: number, via: Via): { readonly mitm: MitmProxy } | { readonly proxy: ProxyEndpoint } | undefined {
  const mitm = routeMitm(policy.mitm, host, port);
  if (mitm) return { mitm };
  const proxy = routeThrough(policy.parent, host, port, via === 'http');
  return proxy ? { proxy } : undefined;
}

/**
 * An allowed connection, sent through the proxy `route` names: `dial`
 * becomes that proxy's address (its name resolved here; the user's own
 * proxy, so not judged), and `through` what to ask it for.
 */
async function viaParent(d: Extract<Decision, { allow: true }>, route: NonNullable<ReturnType<typeof routeOf>>, host: Host, port: number, policy: NetworkPolicy, deps: DecideDeps): Promise<Decision> {
  if ('mitm' in route) {
    const { socketPath } = route.mitm;
    return { ...d, dial: { address: socketPath, port: 0, family: 4 }, through: { proxy: `unix:${socketPath}`, authority: throughAuthority(host, port), socketPath } };
  }
  const { proxy } = route;
  let address = literalAddress(proxy.host);
  if (!address) {
    try {
      address = (await deps.resolve(proxy.host))[0];
    } catch {
      address = undefined;
    }
  }
  const ip = address === undefined ? undefined : parseIp(address);
  if (!ip) {
    return { ...refuse('resolve-failed', `connection to ${formatHostPort(host, port)} refused: the upstream proxy ${proxy.shown} (${policy.parent!.source}) could not be resolved`), host: d.host, rule: d.rule, ruleKeyPath: d.ruleKeyPath };
  }
  const dial = unmapIPv4(ip);
  return { ...d, dial: { address: formatIp(dial), port: proxy.port, family: dial.family }, through: { proxy: proxy.shown, authority: throughAuthority(host, port), ...(proxy.authorization ? { authorization: proxy.authorization } : {}) } };
}

type Verdict = { readonly denial: AddressDenial; readonly via?: EmbeddingKind; readonly keyPath?: string };

/**
 * Why a resolved address may not be dialed for `port`, or undefined. An IPv6
 * address is judged as itself and as every IPv4 address it embeds; an
 * embedded form only adds denials, it never earns the carve-out (else `::1`,
 * IPv4-compatible `0.0.0.1`, could ride an allow rule for 0.0.0.1).
 *   1. user denials (deniedDomains IP rules, deniedResolvedAddresses);
 *   2. carve-out: an address that is itself allow-listed as an IP rule on this
 *      port may be reached by name too (`myapp.test` → 127.0.0.1 with
 *      "127.0.0.1:3000" listed): the name grants nothing the literal did not;
 *   3. the denied classes (DENIED_CLASSES, plus LOCAL_CLASSES with denyPrivateAddresses);
 *   4. this host's own addresses.
 */
export function judgeAddress(input: IpAddress, port: number, policy: NetworkPolicy): Verdict | undefined {
  const address = unmapIPv4(input);
  const user = userDenied(address, port, policy);
  if (user) return user;
  if (allowListedAddress(address, port, policy)) return undefined;
  const c = classify(address);
  const denied = (cls: AddressClass): boolean => DENIED_CLASSES.has(cls) || (policy.denyPrivateAddresses && LOCAL_CLASSES.has(cls));
  if (c.class !== 'global' && denied(c.class)) return { denial: c.class };
  for (const e of c.embedded) {
    if (e.class !== 'global' && denied(e.class)) return { denial: e.class, via: e.via };
  }
  for (const own of policy.hostAddresses) {
    if (sameAddress(own, address)) return { denial: 'host-address' };
    const e = c.embedded.find((x) => sameAddress(own, x.address));
    if (e) return { denial: 'host-address', via: e.via };
  }
  return undefined;
}

/** The address itself is allow-listed (an IP rule) for this port: the carve-out of judgeAddress. */
function allowListedAddress(address: IpAddress, port: number, policy: NetworkPolicy): boolean {
  return policy.allow.some((r) => r.pattern.kind === 'ip' && (r.port === undefined || r.port === port) && sameAddress(r.pattern.address, address));
}

function userDenied(address: IpAddress, port: number, policy: NetworkPolicy): Verdict | undefined {
  const candidates = [{ address, via: undefined as EmbeddingKind | undefined }, ...classify(address).embedded];
  for (const r of policy.deny) {
    if (ruleCoversAddress(r, address, port)) {
      const via = candidates.find((c) => c.via && r.pattern.kind === 'ip' && sameAddress(c.address, r.pattern.address))?.via;
      return { denial: 'denied-by-rule', keyPath: r.keyPath, ...(via ? { via } : {}) };
    }
  }
  for (const range of policy.deniedRanges) {
    const hit = candidates.find((c) => rangeContains(range, c.address));
    if (hit) return { denial: 'denied-range', keyPath: range.keyPath, ...(hit.via ? { via: hit.via } : {}) };
  }
  return undefined;
}

const DENIAL_TEXT: Record<AddressDenial, string> = {
  metadata: 'cloud metadata',
  unspecified: 'unspecified',
  loopback: 'loopback',
  'link-local': 'link-local',
  multicast: 'multicast',
  broadcast: 'broadcast',
  private: 'private',
  reserved: 'reserved',
  documentation: 'documentation',
  'host-address': "this host's own address",
  'denied-by-rule': 'network.deniedDomains',
  'denied-range': 'network.deniedResolvedAddresses',
  unparsable: 'unparsable answer',
};

function deniedByRule(target: string, shown: string, rule: DomainRule): Decision {
  return {
    ...refuse('denied-by-rule', `connection to ${target} refused: denied by ${rule.keyPath} (${quoteUntrusted(rule.source)}); deny rules win over network.allowedDomains`, `${rule.keyPath.replace(/\[\d+\]$/, '')}: remove ${JSON.stringify(rule.source)}`),
    host: shown, rule: rule.source, ruleKeyPath: rule.keyPath,
  };
}

function refuse(reason: RefusalReason, message: string, fix: string | null = null): { allow: false; reason: RefusalReason; message: string; fix: string | null } {
  return { allow: false, reason, message: `cordon: ${message}`, fix };
}

/**
 * The rule that decided, as events name it: the entry (`network.allowedDomains[0]: "example.com"`)
 * or, for cordon's own rules and for the absence of an allowing entry, a `built-in:` sentence.
 */
export function decidingRule(d: Decision, port: number): string {
  const entry = d.ruleKeyPath !== undefined ? `${d.ruleKeyPath}${d.rule !== undefined ? `: ${JSON.stringify(d.rule)}` : ''}` : undefined;
  if (d.allow) return entry!;
  switch (d.reason) {
    case 'invalid-host': return 'built-in: a host must be a valid name or IP address';
    case 'invalid-port': return 'built-in: a port must be from 1 to 65535';
    case 'not-allowlisted':
    case 'ip-literal-not-allowlisted': return `network.allowedDomains: no entry allows ${d.host ?? 'this host'}:${port}`;
    case 'denied-by-rule': return entry ?? 'network.deniedDomains';
    case 'resolve-failed': return `${entry ?? 'network.allowedDomains'} (the name did not resolve)`;
    case 'resolved-to-denied-address': {
      const user = d.dropped?.find((x) => x.keyPath !== undefined)?.keyPath;
      return user ?? `built-in: an allowed name may not resolve to a denied address (${[...new Set((d.dropped ?? []).map((x) => x.denial))].join(', ')})`;
    }
  }
}

// ------------------------------------------------------------ construction

export interface NetworkSettings {
  readonly allowedDomains?: unknown;
  readonly deniedDomains?: unknown;
  readonly deniedResolvedAddresses?: unknown;
  readonly denyPrivateAddresses?: boolean;
}

/**
 * Parse the network settings of one file into a NetworkPolicy. Throws
 * SettingsError naming the offending entry (`network.allowedDomains[3]`).
 */
export function compileNetworkPolicy(settings: NetworkSettings, file: string, hostAddresses: readonly IpAddress[]): NetworkPolicy {
  return {
    allow: parseAllowedDomains(settings.allowedDomains ?? [], 'network.allowedDomains', file),
    deny: parseDeniedDomains(settings.deniedDomains ?? [], 'network.deniedDomains', file),
    deniedRanges: parseAddressRanges(settings.deniedResolvedAddresses ?? [], 'network.deniedResolvedAddresses', file),
    hostAddresses,
    denyPrivateAddresses: settings.denyPrivateAddresses === true,
  };
}
