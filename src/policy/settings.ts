/**
 * Settings files: cordon's own format is a superset of srt's
 * (@anthropic-ai/sandbox-runtime), so an srt settings file loads unchanged
 * and means no more than it meant under srt.
 *
 * Trust boundary: the bytes of a settings file are untrusted. Reading fails
 * closed: a file that is named but missing, unreadable, empty, not JSON, with an
 * unknown key or a wrong type is an error that names the key path, the
 * expectation and the value. Nothing here falls back to defaults.
 *
 * Every srt key cordon does not implement is judged by what it means under
 * srt on Linux (UNIMPLEMENTED below): a value that asks for nothing cordon
 * does not already do, or do more strictly, is accepted and needs nothing
 * from cordon; any other value is refused with an error naming the key.
 * None is accepted and ignored: running without what a key asks for would
 * be weaker than the file says.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { realOrSelf } from './paths.js';
import { CordonError } from '../errors.js';
import { anyValue, arr, bool, int, isPlainObject, lit, obj, oneOf, rec, str, validate, type Shape } from './schema.js';
import { parseAddressRanges, type AddressRange } from '../network/addresses.js';
import { parseAllowedDomains, parseDeniedDomains, type DomainRule } from '../network/domain-rules.js';
import { checkVariableName, type EnvironmentRules } from './environment.js';
import type { RequestRule } from '../network/request-rules.js';
import type { BrokerSpec } from '../network/credential-sources.js';
import type { AwsRole } from '../network/broker.js';
import type { TlsSpec } from '../network/tls.js';
import { mitmProxy, parentProxy, type MitmProxy, type MitmProxySetting, type ParentProxySetting } from '../network/parent-proxy.js';

/**
 * none: no network at all. filtered: only through cordon's proxies.
 * dangerously-unfiltered: the host's network, unfiltered (filesystem and
 * process walls stay) — named so nobody turns it on by accident.
 */
export type NetworkMode = 'none' | 'filtered' | 'dangerously-unfiltered';
export const NETWORK_MODES: readonly NetworkMode[] = ['none', 'filtered', 'dangerously-unfiltered'];

/**
 * network.tlsTerminate: srt's keys, and cordon's `domains` (terminate only
 * these; absent: every allowed CONNECT not excluded). Paths as written
 * (expanded by the policy).
 */
export type TlsSettings = Omit<TlsSpec, 'from'>;

/** One credentials.broker entry as a file wrote it (its from.file expanded by the policy). */
export type BrokerSetting = BrokerSpec;

/** A path entry: a string (globs allowed), or srt's { path, literal: true } for a path taken verbatim. */
export interface PathEntry { readonly path: string; readonly literal: boolean }

export interface Settings {
  readonly file: string;
  readonly filesystem: {
    readonly denyRead: readonly PathEntry[];
    readonly allowRead: readonly PathEntry[];
    readonly allowWrite: readonly PathEntry[];
    readonly denyWrite: readonly PathEntry[];
    readonly allowWriteNoDelete: readonly PathEntry[];
    readonly allowGitConfig: boolean;
    /** filesystem.packageCache as set: false keeps package caches per run (platform/linux/package-cache.ts). */
    readonly packageCache?: boolean;
    /**
     * The file has filesystem.allowWrite or filesystem.allowWriteNoDelete:
     * as under srt, its lists are the writable set, and the working
     * directory is writable only if they name it (policy.ts).
     */
    readonly definesWritable: boolean;
  };
  readonly network: {
    /** Explicit network.mode, when the file sets one. */
    readonly mode?: NetworkMode;
    readonly allow: readonly DomainRule[];
    readonly deny: readonly DomainRule[];
    readonly deniedRanges: readonly AddressRange[];
    readonly denyPrivateAddresses: boolean;
    readonly allowUnixSockets: readonly string[];
    readonly allowAllUnixSockets: boolean;
    /** network.tlsTerminate, when the file sets it. */
    readonly tls?: TlsSettings;
    /** network.refuseOpaqueTunnels: every tunnel cordon cannot see into is refused. */
    readonly refuseOpaqueTunnels: boolean;
    /** network.requestRules (network/request-rules.ts). */
    readonly requestRules: readonly RequestRule[];
    /** network.parentProxy, checked (network/parent-proxy.ts reads it). */
    readonly parentProxy?: ParentProxySetting;
    /** network.mitmProxy, parsed. */
    readonly mitmProxy?: MitmProxy;
  };
  /** Which environment variables the command gets besides the ordinary ones (policy/environment.ts). */
  readonly environment?: EnvironmentRules;
  /** credentials.broker: credentials the command holds a session token of (network/broker.ts). */
  readonly broker?: readonly BrokerSetting[];
  /** srt's bwrapPath: accepted only when it names the bubblewrap cordon runs (checkBwrapPath). */
  readonly bwrapPath?: string;
  /** Non-fatal notes for the user (a stricter outcome than the file asked for). */
  readonly warnings: readonly string[];
}

const pathEntry: Shape = oneOf('a path string, or { "path": "<path>", "literal": true }', str, obj({ path: str, literal: lit(true) }, ['path', 'literal']));
const paths = arr(pathEntry);

const macOnly = 'macOS only: srt on Linux does not read it, and cordon runs on Linux';

/**
 * The srt keys cordon does not implement, and what it does with each value.
 * `accepts`: the values that ask for nothing beyond what cordon already
 * does (or does more strictly), with why; absent, no value does. Any other
 * value is `refused`: what srt does with it, and why running without it
 * would be weaker. The "srt keys" table of docs/srt-compatibility.md says
 * the same; test/unit/policy/settings.test.ts tries each key both ways.
 *
 * | key                               | accepted                | refused                  |
 * |-----------------------------------|-------------------------|--------------------------|
 * | network.httpProxyPort             | -                       | any value                |
 * | network.socksProxyPort            | -                       | any value                |
 * | network.filterRequest             | -                       | any value                |
 * | network.stripResponseHeaders      | []                      | a header name            |
 * | network.requireHostMatch          | any (cordon always does)| -                        |
 * | network.allowPlaintextHeaderSet   | any (no filterRequest)  | -                        |
 * | network.ambiguousRequestTarget    | any (no filterRequest)  | -                        |
 * | network.strictAllowlist           | any (cordon never asks) | -                        |
 * | network.deniedDomainReasons       | any (wording only)      | -                        |
 * | network.allowLocalBinding         | any (own loopback)      | -                        |
 * | network.allowMachLookup           | any (macOS only)        | -                        |
 * | credentials.files/awsPairs        | []                      | an entry                 |
 * | credentials.envVars               | entries of mode "deny"  | a "mask" entry           |
 * | credentials.allowPlaintextInject  | any (nothing injected)  | -                        |
 * | credentials.sigv4                 | "deny" each             | "passthrough"            |
 * | filesystem.disabled               | false                   | true                     |
 * | enableWeakerNestedSandbox         | false                   | true                     |
 * | allowNestedUserNamespaces         | false                   | true                     |
 * | enableWeakerNetworkIsolation      | any (macOS only)        | -                        |
 * | allowAppleEvents, allowPty        | any (macOS only)        | -                        |
 * | windows                           | any (Windows only)      | -                        |
 * | ignoreViolations                  | any (reports only)      | -                        |
 * | ripgrep, mandatoryDenySearchDepth | any (srt's own scan)    | -                        |
 * | seccomp, socatPath, javaAgentJarPath | any (not run)        | -                        |
 * | git.safeDirectories               | any (git stays strict)  | -                        |
 * | bwrapPath                         | cordon's bubblewrap     | another one              |
 *
 * network.allowAllUnixSockets is implemented as something stricter (only the
 * sockets allowUnixSockets names) and says so in a warning.
 */
export type Unimplemented = { readonly key: string } & (
  | { readonly accepts: Accepts; readonly refused?: Refusal }
  | { readonly accepts?: Accepts; readonly refused: Refusal }
);

interface Accepts { readonly value: (v: unknown) => boolean; readonly shown: string; readonly why: string }
/** What srt does with the key, what cordon would do without it, and a fix besides removing it. */
interface Refusal { readonly srt: string; readonly cordon: string; readonly fix?: string }

const always = (why: string) => ({ value: () => true, shown: 'any value', why });
const only = (expected: unknown, why: string) => ({ value: (v: unknown) => JSON.stringify(v) === JSON.stringify(expected), shown: JSON.stringify(expected), why });
const NO_FILTER = 'it only applies while a filterRequest callback is set (srt library only; no settings file can set one), and cordon has none';

export const UNIMPLEMENTED: readonly Unimplemented[] = [
  { key: 'network.httpProxyPort', refused: { srt: 'srt hands HTTP traffic to your proxy at this port, which does the filtering', cordon: 'cordon would use its own proxy and filter only by allowedDomains' } },
  { key: 'network.socksProxyPort', refused: { srt: 'srt hands SOCKS traffic to your proxy at this port, which does the filtering', cordon: 'cordon would use its own proxy and filter only by allowedDomains' } },
  { key: 'network.filterRequest', refused: { srt: 'a JavaScript callback of the srt library (srt refuses it in a settings file too)', cordon: 'cordon has no per-request filter' } },
  { key: 'network.stripResponseHeaders', accepts: only([], 'it strips nothing'), refused: { srt: 'srt removes these headers from responses before the command sees them', cordon: 'cordon passes them on' } },
  { key: 'network.requireHostMatch', accepts: always("cordon's proxy always refuses a request whose Host header does not name the host and port it is sent to, or has none, and a terminated tunnel whose TLS server name names another host (test/integration/network/proxies.test.ts, tls-terminate.test.ts)") },
  { key: 'network.allowPlaintextHeaderSet', accepts: always(NO_FILTER) },
  { key: 'network.ambiguousRequestTarget', accepts: always(NO_FILTER) },
  { key: 'network.strictAllowlist', accepts: always('cordon never asks: a destination no rule allows is refused') },
  { key: 'network.deniedDomainReasons', accepts: always('it words the refusal; cordon refuses the same connections, with its own reason') },
  { key: 'network.allowLocalBinding', accepts: always("srt on Linux ignores it: the sandbox's loopback is its own, as in cordon") },
  { key: 'network.allowMachLookup', accepts: always(macOnly) },
  { key: 'credentials.files', accepts: only([], 'it names no file'), refused: { srt: 'srt withholds or masks these files', cordon: 'cordon would leave them readable', fix: 'list them in filesystem.denyRead, which is what mode "deny" does' } },
  {
    key: 'credentials.envVars',
    accepts: { value: (v) => Array.isArray(v) && v.every((e) => isPlainObject(e) && e.mode === 'deny' && Object.keys(e).every((k) => k === 'name' || k === 'mode')), shown: 'entries of mode "deny" (withheld, as environment.withhold does)', why: 'cordon withholds them' },
    refused: { srt: 'srt masks these environment variables (a sentinel inside, the real value put back by its proxy)', cordon: 'cordon masks only what credentials.broker names, with the header it goes in', fix: 'broker each with a credentials.broker entry (docs/network.md, Credential brokering)' },
  },
  { key: 'credentials.awsPairs', accepts: only([], 'it names no pair'), refused: { srt: 'srt re-signs AWS requests made with masked keys', cordon: 'cordon masks no srt envVars entry', fix: 'broker the keys with a credentials.aws entry, which cordon signs again at its proxy (docs/network.md, AWS keys)' } },
  { key: 'credentials.allowPlaintextInject', accepts: always('cordon injects no credential, over plain HTTP or otherwise') },
  {
    key: 'credentials.sigv4',
    accepts: { value: (v) => isPlainObject(v) && Object.values(v).every((x) => x === 'deny'), shown: '"deny" for each request shape', why: 'cordon refuses streaming-signed, presigned and SigV4A requests made with brokered AWS keys (credentials.aws), as "deny" does' },
    refused: { srt: 'with "passthrough", srt forwards such a request unchanged, with the masked key in it', cordon: 'cordon never sends a request made with session keys that it has not signed again' },
  },
  { key: 'filesystem.disabled', accepts: only(false, 'the default'), refused: { srt: 'srt then drops every filesystem rule', cordon: 'cordon never turns its filesystem walls off' } },
  { key: 'enableWeakerNestedSandbox', accepts: only(false, 'the default'), refused: { srt: 'srt then runs a weaker sandbox (for Docker without namespaces)', cordon: 'cordon does not run weaker sandboxes' } },
  { key: 'allowNestedUserNamespaces', accepts: only(false, 'the default'), refused: { srt: 'srt then lets the command create user namespaces, which gives up the write denies', cordon: 'cordon does not run weaker sandboxes' } },
  { key: 'enableWeakerNetworkIsolation', accepts: always(macOnly) },
  { key: 'allowAppleEvents', accepts: always(macOnly) },
  { key: 'allowPty', accepts: always(macOnly) },
  { key: 'windows', accepts: always('Windows only: srt on Linux does not read it') },
  { key: 'ignoreViolations', accepts: always("it chooses which violations srt's log reports, and allows nothing") },
  { key: 'ripgrep', accepts: always("it says how srt runs its own scan for protected names; cordon runs its own scanner and never srt's") },
  { key: 'mandatoryDenySearchDepth', accepts: always("it tunes how deep srt's own scan looks for protected names in any directory; cordon's protections do not depend on it (the names at the root of every writable path and of every repository at any depth: README, Files that are never writable)") },
  { key: 'seccomp', accepts: always("it names srt's apply-seccomp binary; cordon never runs it, and its own filter refuses at least what srt's does") },
  { key: 'socatPath', accepts: always('cordon runs no socat') },
  { key: 'javaAgentJarPath', accepts: always('cordon runs no Java agent (JVM tools find its proxy through JAVA_TOOL_OPTIONS)') },
  { key: 'git', accepts: always('srt tells git to trust repositories another user owns; without it git refuses them, which is stricter') },
];

const sigv4Policy = oneOf('"deny" or "passthrough"', lit('deny'), lit('passthrough'));

export const SETTINGS_SHAPE: Shape = obj({
  $schema: str,
  filesystem: obj({
    denyRead: paths,
    allowRead: paths,
    allowWrite: paths,
    denyWrite: paths,
    allowWriteNoDelete: paths,
    allowGitConfig: bool,
    packageCache: bool,
    disabled: bool,
  }),
  network: obj({
    mode: oneOf('"none", "filtered" or "dangerously-unfiltered"', lit('none'), lit('filtered'), lit('dangerously-unfiltered')),
    denyPrivateAddresses: bool,
    allowedDomains: arr(str),
    deniedDomains: arr(str),
    deniedDomainReasons: rec(str),
    strictAllowlist: bool,
    deniedResolvedAddresses: arr(str),
    allowUnixSockets: arr(str),
    allowAllUnixSockets: bool,
    allowLocalBinding: bool,
    allowMachLookup: arr(str),
    httpProxyPort: int(1, 65535),
    socksProxyPort: int(1, 65535),
    mitmProxy: obj({ socketPath: str, domains: arr(str) }, ['socketPath', 'domains']),
    filterRequest: anyValue,
    allowPlaintextHeaderSet: bool,
    stripResponseHeaders: arr(str),
    refuseOpaqueTunnels: bool,
    requireHostMatch: bool,
    ambiguousRequestTarget: oneOf('"refuse", "asSpelled" or "normalize"', lit('refuse'), lit('asSpelled'), lit('normalize')),
    requestRules: arr(obj({
      hosts: arr(str),
      methods: arr(str),
      paths: arr(str),
      maxBodyBytes: int(0),
      requireHeaders: arr(str),
      stripHeaders: arr(str),
    }, ['hosts'])),
    tlsTerminate: obj({
      domains: arr(str),
      excludeDomains: arr(str),
      extraCaCertPaths: arr(str),
      caCertPath: str,
      caKeyPath: str,
      maxTunnels: int(1, 65536),
      handshakeTimeoutMs: int(100, 600_000),
    }),
    parentProxy: obj({ http: str, https: str, noProxy: str }),
  }),
  environment: obj({
    pass: arr(str),
    withhold: arr(str),
  }),
  credentials: obj({
    files: arr(anyValue),
    envVars: arr(anyValue),
    allowPlaintextInject: bool,
    awsPairs: arr(anyValue),
    sigv4: obj({ streaming: sigv4Policy, presigned: sigv4Policy, sigv4a: sigv4Policy }),
    aws: arr(obj({
      hosts: arr(str),
      env: obj({ accessKeyId: str, secretAccessKey: str, sessionToken: str }),
      from: obj({ command: arr(str) }),
      services: arr(str),
    }, ['hosts'])),
    broker: arr(obj({
      env: str,
      from: obj({ env: str, file: str, command: arr(str) }),
      hosts: arr(str),
      header: str,
      scheme: str,
      username: str,
    }, ['env', 'hosts', 'header'])),
  }),
  ignoreViolations: rec(arr(str)),
  enableWeakerNestedSandbox: bool,
  allowNestedUserNamespaces: bool,
  enableWeakerNetworkIsolation: bool,
  allowAppleEvents: bool,
  ripgrep: obj({ command: str, args: arr(str), argv0: str }, ['command']),
  mandatoryDenySearchDepth: int(1, 10),
  allowPty: bool,
  seccomp: obj({ applyPath: str, argv0: str }),
  bwrapPath: str,
  socatPath: str,
  javaAgentJarPath: str,
  windows: obj({ backend: oneOf('"mxc" or "srt-win"', lit('mxc'), lit('srt-win')), sandboxUser: str, sublayerGuid: str, wfpSublayerGuid: str, proxyPortRange: arr(int()), srtWin: obj({ path: str }, ['path']) }),
  git: obj({ safeDirectories: arr(str) }),
});

/** Reads and validates one settings file. Throws CordonError; never returns defaults. */
export function loadSettingsFile(file: string): Settings {
  let text: string;
  let links = 1;
  try {
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd);
      // Another name matters only where a command running as this user could write the file through it: one owned
      // by another user and writable by no one else (a read-only store that links identical files) is fine.
      const uid = process.getuid?.() ?? 0;
      const guarded = uid !== 0 && st.uid !== uid && (st.mode & 0o022) === 0;
      if (st.isFile() && !guarded) links = st.nlink;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CordonError('CORDON_ERR_SETTINGS_MISSING', `${file}: settings file does not exist; create it or drop --settings`, { cause: e });
    }
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${file}: settings file cannot be read (${code ?? String(e)}); fix its permissions`, { cause: e });
  }
  // The sandbox keeps this name read-only; another name of the same file (one a sandboxed command may have made,
  // where it can write) would still change it, and the next run would start under what it wrote.
  if (links > 1) {
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${file}: settings file has ${links} hard links, and through another name a sandboxed command could rewrite it; read what it holds, then give cordon a file with one name (cp ${file} ${file}.new && mv ${file}.new ${file}, or a copy elsewhere)`);
  }
  return parseSettings(text, file);
}

/** Pure: JSON text → validated Settings. */
/** Settings nest a few levels; a caller's object or a file nested deeper than this is refused, not walked. */
const MAX_NESTING = 64;

/** And hold this many values at most (an object shared many times over counts each time). */
const MAX_VALUES = 1_000_000;

/**
 * Refuses a value nested deeper than MAX_NESTING (a circular one is), or
 * with more than MAX_VALUES values, iteratively: it is never recursed into.
 */
function refuseDeepNesting(value: unknown, where: string): void {
  const todo: [unknown, number][] = [[value, 0]];
  for (let seen = 0; todo.length > 0; seen++) {
    const [v, depth] = todo.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_NESTING) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: nested more than ${MAX_NESTING} levels deep (or refers to itself); settings never are`);
    if (seen > MAX_VALUES) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: more than ${MAX_VALUES} values; settings are far smaller`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) todo.push([child, depth + 1]);
  }
}

/** A caller's settings object (the library's options) as the JSON text parseSettings reads: a clear refusal where it is none. */
export function settingsJson(value: unknown, where: string): string {
  refuseDeepNesting(value, where);
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: not a JSON value (${(e as Error).message})`, { cause: e });
  }
}

export function parseSettings(text: string, file: string): Settings {
  if (text.trim() === '') throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: the file is empty; a settings file is a JSON object (put settings in it, or remove it)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  refuseDeepNesting(json, file);
  validate(json, SETTINGS_SHAPE, file);
  const o = json as Record<string, any>;
  for (const u of UNIMPLEMENTED) refuseUnimplemented(o, u, file);
  const warnings: string[] = [];
  const net = o.network ?? {};
  if (net.allowAllUnixSockets === true) {
    warnings.push(`${file}: network.allowAllUnixSockets is not supported (it would open every host daemon's socket); only the sockets named in network.allowUnixSockets are reachable`);
  }
  const fs = o.filesystem ?? {};
  const env = o.environment ?? {};
  const names = (key: 'pass' | 'withhold') => ((env[key] ?? []) as unknown[]).map((n, i) => checkVariableName(n, `${file}: environment.${key}[${i}]`));
  // srt's credentials.envVars of mode "deny": withheld (refuseUnimplemented let only those through).
  const denied = ((o.credentials?.envVars ?? []) as { name: unknown }[]).map((e, i) => checkVariableName(e.name, `${file}: credentials.envVars[${i}].name`));
  return {
    file,
    filesystem: {
      denyRead: entries(fs.denyRead),
      allowRead: entries(fs.allowRead),
      allowWrite: entries(fs.allowWrite),
      denyWrite: entries(fs.denyWrite),
      allowWriteNoDelete: entries(fs.allowWriteNoDelete),
      allowGitConfig: fs.allowGitConfig === true,
      ...(typeof fs.packageCache === 'boolean' ? { packageCache: fs.packageCache } : {}),
      definesWritable: Object.hasOwn(fs, 'allowWrite') || Object.hasOwn(fs, 'allowWriteNoDelete'),
    },
    network: {
      ...(net.mode ? { mode: net.mode as NetworkMode } : {}),
      allow: parseAllowedDomains(net.allowedDomains ?? [], 'network.allowedDomains', file),
      deny: parseDeniedDomains(net.deniedDomains ?? [], 'network.deniedDomains', file),
      deniedRanges: parseAddressRanges(net.deniedResolvedAddresses ?? [], 'network.deniedResolvedAddresses', file),
      denyPrivateAddresses: net.denyPrivateAddresses === true,
      allowUnixSockets: net.allowUnixSockets ?? [],
      allowAllUnixSockets: net.allowAllUnixSockets === true,
      ...(net.tlsTerminate ? { tls: tlsSettings(net.tlsTerminate, file) } : {}),
      refuseOpaqueTunnels: net.refuseOpaqueTunnels === true,
      requestRules: ((net.requestRules ?? []) as Record<string, any>[]).map((r, i) => requestRule(r, i, file)),
      ...(net.parentProxy ? { parentProxy: checkedParentProxy(net.parentProxy as ParentProxySetting, file) } : {}),
      ...(net.mitmProxy ? { mitmProxy: mitmProxy(net.mitmProxy as MitmProxySetting, file) } : {}),
    },
    ...(o.environment || denied.length ? { environment: { pass: names('pass'), withhold: [...names('withhold'), ...denied] } } : {}),
    ...(o.credentials?.broker || o.credentials?.aws ? { broker: [...((o.credentials.broker ?? []) as Record<string, any>[]).map((b, i) => brokerSetting(b, i, file)), ...((o.credentials.aws ?? []) as Record<string, any>[]).flatMap((a, i) => awsSetting(a, i, file))] } : {}),
    ...(typeof o.bwrapPath === 'string' ? { bwrapPath: o.bwrapPath } : {}),
    warnings,
  };
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function requestRule(r: Record<string, any>, i: number, file: string): RequestRule {
  const keyPath = `network.requestRules[${i}]`;
  const bad = (what: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: ${keyPath}${what}`);
  const hosts = parseAllowedDomains(r.hosts, `${keyPath}.hosts`, file);
  if (hosts.length === 0) throw bad('.hosts is empty: name the hosts the rule is for');
  const names = (key: 'requireHeaders' | 'stripHeaders') => ((r[key] ?? []) as string[]).map((h, j) => {
    if (!TOKEN.test(h)) throw bad(`.${key}[${j}]: ${JSON.stringify(h)} is not a header name`);
    if (key === 'stripHeaders' && NOT_A_CREDENTIAL_HEADER.has(h.toLowerCase())) throw bad(`.${key}[${j}]: ${h} frames or routes the request; it cannot be taken out`);
    return h.toLowerCase();
  });
  const methods = r.methods === undefined ? undefined : (r.methods as string[]).map((m, j) => {
    if (!TOKEN.test(m)) throw bad(`.methods[${j}]: ${JSON.stringify(m)} is not a method`);
    return m.toUpperCase();
  });
  const paths = r.paths === undefined ? undefined : (r.paths as string[]).map((p, j) => {
    if (!p.startsWith('/')) throw bad(`.paths[${j}]: ${JSON.stringify(p)} must start with /`);
    return p;
  });
  return { hosts, ...(methods ? { methods } : {}), ...(paths ? { paths } : {}), ...(r.maxBodyBytes !== undefined ? { maxBodyBytes: r.maxBodyBytes } : {}), requireHeaders: names('requireHeaders'), stripHeaders: names('stripHeaders'), keyPath, file };
}

/** Header names cordon never puts a credential in: they frame or route the request. */
const NOT_A_CREDENTIAL_HEADER = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection', 'expect']);

function brokerSetting(b: Record<string, any>, i: number, file: string): BrokerSetting {
  const keyPath = `credentials.broker[${i}]`;
  const bad = (what: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: ${keyPath}${what}`);
  const env = checkVariableName(b.env, `${file}: ${keyPath}.env`);
  const header = String(b.header).toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(header)) throw bad(`.header: ${JSON.stringify(b.header)} is not a header name`);
  if (NOT_A_CREDENTIAL_HEADER.has(header)) throw bad(`.header: ${header} frames or routes the request; name the header the service reads the credential from (authorization, x-api-key, …)`);
  if (b.scheme !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(b.scheme)) throw bad(`.scheme: ${JSON.stringify(b.scheme)} is not an authentication scheme (Bearer, token, Basic, …)`);
  const basic = String(b.scheme ?? '').toLowerCase() === 'basic';
  if (basic && b.username === undefined) throw bad('.username: Basic authentication sends a user name with the credential; name it (GitHub: "x-access-token"), so that no other (an account of someone else\'s) can ride with it');
  if (!basic && b.username !== undefined) throw bad('.username: only the Basic scheme sends a user name');
  if (basic && String(b.username).includes(':')) throw bad('.username: a Basic user name cannot hold ":"');
  const from = b.from ?? { env };
  const kinds = ['env', 'file', 'command'].filter((k) => from[k] !== undefined);
  if (kinds.length !== 1) throw bad('.from: name one source: {"env": NAME}, {"file": PATH} or {"command": [PROGRAM, ARGS…]}');
  if (from.env !== undefined) checkVariableName(from.env, `${file}: ${keyPath}.from.env`);
  if (from.file === '') throw bad('.from.file is empty');
  if (from.command !== undefined && (from.command.length === 0 || !String(from.command[0]).startsWith('/') && !/^[\w.+-]+$/.test(String(from.command[0])))) throw bad('.from.command: name a program (absolute, or found on PATH) and its arguments, as a list: no shell runs it');
  const hosts = parseAllowedDomains(b.hosts, `${keyPath}.hosts`, file);
  if (hosts.length === 0) throw bad('.hosts is empty: name the hosts the credential is for');
  if (hosts.some((h) => h.pattern.kind === 'any')) throw bad('.hosts: "*" would send the credential anywhere; name its hosts');
  return { env, from: from.env !== undefined ? { env: from.env } : from.file !== undefined ? { file: from.file } : { command: from.command.map(String) }, hosts, header, ...(b.scheme !== undefined ? { scheme: b.scheme } : {}), ...(basic ? { username: String(b.username) } : {}), keyPath, file };
}

/** The variables a credentials.aws entry sets inside by default: the ones every AWS SDK and CLI reads. */
export const AWS_VARIABLES = { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: 'AWS_SESSION_TOKEN' } as const;

/**
 * One credentials.aws entry: a set of AWS keys signed with at the proxy
 * (network/sigv4.ts), as three brokered credentials of one set. The real
 * values come from cordon's environment under the same names, or from a
 * program that prints them as AWS's credential_process does.
 */
function awsSetting(a: Record<string, any>, i: number, file: string): BrokerSetting[] {
  const keyPath = `credentials.aws[${i}]`;
  const bad = (what: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: ${keyPath}${what}`);
  const env = { ...AWS_VARIABLES, ...(a.env ?? {}) } as Record<AwsRole, string>;
  for (const role of Object.keys(AWS_VARIABLES) as AwsRole[]) checkVariableName(env[role], `${file}: ${keyPath}.env.${role}`);
  if (new Set(Object.values(env)).size !== 3) throw bad('.env: name three different variables');
  const command = a.from?.command as string[] | undefined;
  if (a.from !== undefined && command === undefined) throw bad('.from: name the program that prints the keys, {"command": [PROGRAM, ARGS…]}; without from, they are read from cordon\'s environment');
  if (command !== undefined && (command.length === 0 || !String(command[0]).startsWith('/') && !/^[\w.+-]+$/.test(String(command[0])))) throw bad('.from.command: name a program (absolute, or found on PATH) and its arguments, as a list: no shell runs it');
  const hosts = parseAllowedDomains(a.hosts, `${keyPath}.hosts`, file);
  if (hosts.length === 0) throw bad('.hosts is empty: name the AWS endpoints the keys sign for ("my-bucket.s3.us-east-1.amazonaws.com", "sts.amazonaws.com")');
  const services = a.services === undefined ? undefined : (a.services as string[]).map((v, j) => {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(v)) throw bad(`.services[${j}]: ${JSON.stringify(v)} is not an AWS service name as a signature's scope spells it ("s3", "sqs", "dynamodb", "execute-api")`);
    return v;
  });
  if (services?.length === 0) throw bad('.services is empty: list the services the keys may sign for, or leave the key out');
  const FIELD = { accessKeyId: 'AccessKeyId', secretAccessKey: 'SecretAccessKey', sessionToken: 'SessionToken' } as const;
  return (Object.keys(AWS_VARIABLES) as AwsRole[]).map((role) => ({
    env: env[role],
    from: command ? { process: command.map(String), field: FIELD[role] } : { env: env[role] },
    hosts,
    header: role === 'sessionToken' ? 'x-amz-security-token' : 'authorization',
    keyPath,
    file,
    sigv4: { role, set: `${file}: ${keyPath}`, ...(services ? { services } : {}) },
  }));
}

function tlsSettings(t: Record<string, any>, file: string): TlsSettings {
  if ((t.caCertPath === undefined) !== (t.caKeyPath === undefined)) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: network.tlsTerminate needs caCertPath and caKeyPath together (a CA certificate and its key), or neither (a CA made for the session)`);
  }
  const nonEmpty = (v: string, key: string) => {
    if (v === '') throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: network.tlsTerminate.${key} is empty; name a file`);
    return v;
  };
  return {
    ...(t.domains !== undefined ? { domains: parseAllowedDomains(t.domains, 'network.tlsTerminate.domains', file) } : {}),
    exclude: parseAllowedDomains(t.excludeDomains ?? [], 'network.tlsTerminate.excludeDomains', file),
    extraCaCertPaths: ((t.extraCaCertPaths ?? []) as string[]).map((p, i) => nonEmpty(p, `extraCaCertPaths[${i}]`)),
    ...(t.caCertPath !== undefined ? { ca: { cert: nonEmpty(t.caCertPath, 'caCertPath'), key: nonEmpty(t.caKeyPath, 'caKeyPath') } } : {}),
    ...(t.maxTunnels !== undefined ? { maxTunnels: t.maxTunnels } : {}),
    ...(t.handshakeTimeoutMs !== undefined ? { handshakeMs: t.handshakeTimeoutMs } : {}),
  };
}

/** network.parentProxy as written, once each URL and the NO_PROXY list are known to be usable (parent-proxy.ts). */
function checkedParentProxy(v: ParentProxySetting, file: string): ParentProxySetting {
  parentProxy({ value: v, file }, {});
  return v;
}

/** Throws when the file sets `u.key` to a value cordon cannot honour (see UNIMPLEMENTED). */
function refuseUnimplemented(o: Record<string, unknown>, u: Unimplemented, file: string): void {
  let v: unknown = o;
  for (const k of u.key.split('.')) {
    if (!isPlainObject(v) || !Object.hasOwn(v, k)) return;
    v = v[k];
  }
  if (u.accepts?.value(v) || !u.refused) return;
  const r = u.refused;
  const fix = `Remove it${u.accepts ? ` or set it to ${u.accepts.shown}` : ''}${r.fix ? `; ${r.fix}` : ''}`;
  throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: ${u.key} = ${describeValue(v)} is not implemented in cordon: ${r.srt}, and ${r.cordon}. ${fix}`);
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * srt's bwrapPath names the bubblewrap to run. cordon runs the one it finds
 * (CORDON_BWRAP, else /usr/bin/bwrap, see probe.ts); a file that names that
 * same file asks for nothing else, and one that names another is refused
 * rather than run with a binary it did not ask for.
 */
export function checkBwrapPath(settings: readonly Settings[], bwrap: string): void {
  for (const s of settings) {
    if (s.bwrapPath === undefined || realOrSelf(s.bwrapPath) === realOrSelf(bwrap)) continue;
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${s.file}: bwrapPath = ${JSON.stringify(s.bwrapPath)} is not implemented in cordon: srt runs the bubblewrap it names, and cordon runs ${bwrap}. Remove it, or run cordon with CORDON_BWRAP=${s.bwrapPath} to use that one`);
  }
}

function entries(v: unknown): PathEntry[] {
  if (!Array.isArray(v)) return [];
  return v.map((e) => (typeof e === 'string' ? { path: e, literal: false } : { path: (e as { path: string }).path, literal: true }));
}


