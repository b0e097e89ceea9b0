/**
 * The upstream proxies cordon's own proxies dial through: srt's
 * `network.parentProxy` (a corporate proxy) and `network.mitmProxy` (an
 * inspecting proxy on a Unix socket, for the domains it names): which
 * connections go through them, and how they are named. Pure: no I/O.
 *
 * Where it comes from: `network.parentProxy` in a user or `--settings` file
 * (a project file may never set it: policy/project.ts), else cordon's own
 * environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, upper or lower case), as
 * srt and most tools take it. Both are the user's, on the host, and trusted;
 * the sandboxed command never sees either (its proxy variables name cordon's
 * relay, and the proxy's password stays in cordon's process).
 *
 * What goes through it: a connection cordon's rules allowed, to a host that
 * no NO_PROXY entry names and that is not loopback. CONNECT, SOCKS5 and
 * requests inside a terminated tunnel use the https proxy (else the http
 * one); plain HTTP requests use the http one only (curl's rule: with only
 * HTTPS_PROXY set, plain HTTP goes direct). The upstream proxy resolves the
 * name itself: cordon neither resolves it nor checks the address it leads
 * to, which is that proxy's to police (docs/network.md, "Through an
 * upstream proxy").
 */
import { CordonError, SettingsError } from '../errors.js';
import { parseAddressRange, parseIp, rangeContains, classifyAddress, type AddressRange } from './addresses.js';
import { formatHostPort, type Host } from './host.js';
import { parseAllowedDomains, ruleMatches, type DomainRule } from './domain-rules.js';

/** One upstream proxy: where cordon connects, and what it sends it. */
export interface ProxyEndpoint {
  /** A name or an IP literal (no brackets), as configured. */
  readonly host: string;
  readonly port: number;
  /** `Basic …` from the URL's user and password, sent as Proxy-Authorization. */
  readonly authorization?: string;
  /** The password as the URL spells it (percent-encoded): what a variable could carry (credentialSpellings). */
  readonly rawPassword?: string;
  /** The URL without its password: for messages and events. */
  readonly shown: string;
}

export interface NoProxyEntry {
  /** `*`: every host. */
  readonly all?: true;
  /** A name: itself and every name below it (`example.com`, `.example.com`). */
  readonly suffix?: string;
  /** An address or CIDR range. */
  readonly range?: AddressRange;
  /** Only on this port, where the entry names one. */
  readonly port?: number;
}

export interface ParentProxy {
  readonly http?: ProxyEndpoint;
  readonly https?: ProxyEndpoint;
  readonly noProxy: readonly NoProxyEntry[];
  /** Where it was configured: a settings file's `network.parentProxy`, or `environment (HTTPS_PROXY)`. */
  readonly source: string;
}

/**
 * network.mitmProxy: an HTTP proxy listening on the Unix socket `socketPath`
 * (srt's inspecting proxy), which every allowed connection to a host
 * `domains` names goes through, and no other way: before the parent proxy,
 * whatever NO_PROXY says. It resolves and dials those hosts itself.
 */
export interface MitmProxy {
  readonly socketPath: string;
  readonly domains: readonly DomainRule[];
  /** Where it was configured (`FILE: network.mitmProxy`). */
  readonly source: string;
}

/** network.mitmProxy as a settings file gives it (validated: settings.ts). */
export interface MitmProxySetting {
  readonly socketPath: string;
  readonly domains: readonly string[];
}

/** network.mitmProxy, parsed: an absolute socket path, the domains as allowedDomains patterns. */
export function mitmProxy(v: MitmProxySetting, file: string): MitmProxy {
  if (!v.socketPath.startsWith('/')) throw new SettingsError(file, 'network.mitmProxy.socketPath', 'an absolute path to the proxy\'s Unix socket', v.socketPath);
  const domains = parseAllowedDomains(v.domains, 'network.mitmProxy.domains', file);
  if (domains.length === 0) throw new SettingsError(file, 'network.mitmProxy.domains', 'at least one domain (the hosts sent through the inspecting proxy)', v.domains);
  return { socketPath: v.socketPath, domains, source: `${file}: network.mitmProxy` };
}

/** The inspecting proxy a connection to host:port goes through, if `m` names the host. */
export function routeMitm(m: MitmProxy | undefined, host: Host, port: number): MitmProxy | undefined {
  return m && m.domains.some((r) => ruleMatches(r, host, port)) ? m : undefined;
}

/** network.parentProxy as a settings file gives it (validated for shape: settings.ts). */
export interface ParentProxySetting {
  readonly http?: string;
  readonly https?: string;
  readonly noProxy?: string;
}

/**
 * The parent proxy from the strongest source that sets network.parentProxy,
 * else from `env` (cordon's own environment). undefined: connections are
 * dialed directly. A value cordon cannot use (another scheme than http, no
 * port it can tell, a path) is an error naming where it came from: a proxy
 * that was asked for is never skipped.
 */
export function parentProxy(setting: { readonly value: ParentProxySetting; readonly file: string } | undefined, env: NodeJS.ProcessEnv): ParentProxy | undefined {
  if (setting) {
    const where = (key: string) => ({ file: setting.file, keyPath: `network.parentProxy.${key}` });
    const v = setting.value;
    const http = v.http ? proxyUrl(v.http, where('http')) : undefined;
    const https = v.https ? proxyUrl(v.https, where('https')) : undefined;
    // Checked even with no proxy to use it: a list that cannot be read is never accepted and ignored.
    const noProxy = parseNoProxy(v.noProxy ?? '', where('noProxy'));
    // No URL (`{}`, empty strings): no upstream proxy, and the environment's are not taken either (documented).
    if (!http && !https) return undefined;
    return { ...(http ? { http } : {}), ...(https ? { https } : {}), noProxy, source: `${setting.file}: network.parentProxy` };
  }
  const pick = (...names: string[]) => names.map((n) => [n, env[n]] as const).find(([, value]) => value !== undefined && value !== '');
  const httpVar = pick('http_proxy', 'HTTP_PROXY');
  const httpsVar = pick('https_proxy', 'HTTPS_PROXY');
  if (!httpVar && !httpsVar) return undefined;
  // A value cordon cannot use says how to go on: another value, or the user's own choice in a settings file.
  const fromEnv = <T>(name: string, read: (where: { file: string; keyPath: string }) => T): T => {
    try {
      return read({ file: 'environment', keyPath: name });
    } catch (e) {
      throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${(e as Error).message}; cordon sends allowed connections through the proxy its environment names: give ${name} a value it can use, or set network.parentProxy in your settings ({} dials directly)`, { cause: e });
    }
  };
  const http = httpVar ? fromEnv(httpVar[0], (w) => proxyUrl(httpVar[1]!, w)) : undefined;
  const https = httpsVar ? fromEnv(httpsVar[0], (w) => proxyUrl(httpsVar[1]!, w)) : http;
  const noVar = pick('no_proxy', 'NO_PROXY');
  return {
    ...(http ? { http } : {}), ...(https ? { https } : {}),
    noProxy: noVar ? fromEnv(noVar[0], (w) => parseNoProxy(noVar[1]!, w)) : [],
    source: `environment (${[httpsVar?.[0], httpVar?.[0]].filter(Boolean).join(', ')})`,
  };
}

/**
 * `http://[user[:password]@]host[:port][/]`, or `host:port` without a scheme
 * (as curl takes it). Only http: cordon speaks plain HTTP to the upstream
 * proxy (a CONNECT for each tunnel, absolute-form requests for plain HTTP).
 */
export function proxyUrl(raw: string, where: { file: string; keyPath: string }): ProxyEndpoint {
  const bad = (expected: string) => new SettingsError(where.file, where.keyPath, expected, redact(raw));
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw bad('an http:// proxy URL, like "http://proxy.example.com:3128"');
  }
  if (u.protocol === 'https:') throw bad('an http:// proxy URL: cordon does not speak TLS to an upstream proxy (a TLS connection through it, by CONNECT, is what it makes)');
  if (u.protocol !== 'http:') throw bad(`an http:// proxy URL (${u.protocol.slice(0, -1)} is not a proxy cordon can use)`);
  if (!u.hostname) throw bad('an http:// proxy URL with a host');
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw bad('an http:// proxy URL with no path, query or fragment');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 80;
  if (port < 1) throw bad('an http:// proxy URL with a port from 1 to 65535');
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw bad('an http:// proxy URL whose user and password are percent-encoded correctly');
  }
  const authorization = u.username || u.password ? `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` : undefined;
  return { host, port, ...(authorization ? { authorization } : {}), ...(u.password ? { rawPassword: u.password } : {}), shown: `http://${user ? `${user}@` : ''}${u.host}` };
}

/** A proxy URL for a message: everything before its last `@` (user and password, whatever they hold) replaced. */
function redact(raw: string): string {
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0] ?? '';
  return `${scheme}***${raw.slice(at)}`;
}

/** Whether network.parentProxy (as a file has it, checked) names a user or password. */
export function carriesCredentials(v: ParentProxySetting): boolean {
  const where = { file: '', keyPath: 'network.parentProxy' };
  return [v.http, v.https].some((u) => u !== undefined && u !== '' && proxyUrl(u, where).authorization !== undefined);
}

/**
 * Every spelling of an upstream proxy's credentials a variable could carry
 * them in: the password as written in the URL (percent-encoded) and
 * decoded, and `user:password` as Basic carries it (base64). Only those of 4
 * characters or more (shorter ones would withhold ordinary values).
 */
export function credentialSpellings(p: ParentProxy | undefined): string[] {
  const out = new Set<string>();
  for (const e of [p?.http, p?.https]) {
    if (!e?.authorization) continue;
    const b64 = e.authorization.slice('Basic '.length);
    const pair = Buffer.from(b64, 'base64').toString('utf8');
    const password = pair.slice(pair.indexOf(':') + 1);
    for (const v of [password, encodeURIComponent(password), b64]) if (v.length >= 4) out.add(v);
    if (e.rawPassword && e.rawPassword.length >= 4) out.add(e.rawPassword);
  }
  return [...out];
}

/**
 * NO_PROXY as curl and Go read it: entries separated by commas (or spaces);
 * `*` alone is every host; a name matches itself and the names below it,
 * with or without a leading dot (a leading `*.` too); an IP address or CIDR
 * range matches the literal addresses in it; `:PORT` after an entry limits
 * it to that port.
 */
export function parseNoProxy(raw: string, where: { file: string; keyPath: string }): NoProxyEntry[] {
  const out: NoProxyEntry[] = [];
  for (const item of raw.split(/[\s,]+/).filter(Boolean)) {
    if (item === '*') {
      out.push({ all: true });
      continue;
    }
    let text = item;
    let port: number | undefined;
    const m = /^(.*[^:]):(\d{1,5})$/.exec(text);
    if (m && !(text.match(/:/g)!.length > 1 && !text.startsWith('['))) {
      text = m[1]!;
      port = Number(m[2]);
      if (port < 1 || port > 65535) throw new SettingsError(where.file, where.keyPath, 'NO_PROXY entries with ports from 1 to 65535', raw);
    }
    if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
    const r = parseAddressRange(text);
    if (r.ok) {
      out.push({ range: r.range, ...(port ? { port } : {}) });
      continue;
    }
    const name = text.replace(/^\*?\./, '').replace(/\.$/, '').toLowerCase();
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) throw new SettingsError(where.file, where.keyPath, 'NO_PROXY entries that are "*", host names, IP addresses or CIDR ranges', raw);
    out.push({ suffix: name, ...(port ? { port } : {}) });
  }
  return out;
}

/**
 * The upstream proxy a connection to `host`:`port` goes through, or
 * undefined (dialed directly). `plain`: a plain HTTP request (only the http
 * proxy); else a tunnel or a request in a terminated one (the https proxy,
 * else the http one). Loopback never goes through it.
 */
export function routeThrough(p: ParentProxy | undefined, host: Host, port: number, plain: boolean): ProxyEndpoint | undefined {
  if (!p) return undefined;
  const endpoint = plain ? p.http : (p.https ?? p.http);
  if (!endpoint) return undefined;
  if (host.kind === 'name' ? host.name === 'localhost' || host.name.endsWith('.localhost') : classifyAddress(host.address) === 'loopback') return undefined;
  for (const e of p.noProxy) {
    if (e.port !== undefined && e.port !== port) continue;
    if (e.all) return undefined;
    if (e.suffix && host.kind === 'name' && (host.name === e.suffix || host.name.endsWith(`.${e.suffix}`))) return undefined;
    if (e.range && host.kind === 'ip' && rangeContains(e.range, host.address)) return undefined;
  }
  return endpoint;
}

/** The authority a CONNECT through the upstream proxy names (`example.com:443`, `[2001:db8::1]:443`). */
export function throughAuthority(host: Host, port: number): string {
  return formatHostPort(host, port);
}

/** An IP literal among a proxy's hosts (so it is dialed as it is, with no lookup). */
export function literalAddress(host: string): string | undefined {
  return parseIp(host) ? host : undefined;
}
